// What the views share: who is asking, the models and LoRAs this server offers, and when each is
// known. A view that needs them awaits the promise rather than reading them half-loaded: on a
// freshly started server /api/models can take seconds, and nothing typed meanwhile may be lost.

import { api } from "./common.js";

export const state = { me: null, models: [], loras: [] };

function later() {
  let resolve;
  const promise = new Promise((done) => { resolve = done; });
  return { promise, resolve };
}

const who = later();
const offer = later();

/** Resolves once /api/me and /api/session have answered (state.me is set). */
export const whoKnown = who.promise;
/** Resolves once the models and LoRAs are known, and after whoKnown. */
export const modelsKnown = Promise.all([who.promise, offer.promise]);

/** Whether the models are known yet (for a synchronous check in an event handler). */
export let modelsLoaded = false;

export const markWhoKnown = () => who.resolve();
// Those awaiting modelsKnown go on after the caller's task: it fills the forms first.
export function markModelsKnown() {
  modelsLoaded = true;
  offer.resolve();
}

/** Dispatched on document when the list of models changed (a training run made one). */
export const MODELS_CHANGED = "models-changed";

export async function refreshModels() {
  ({ data: state.models } = await api("/api/models"));
  document.dispatchEvent(new Event(MODELS_CHANGED));
}
