// The create form: a prompt and the settings the chosen model takes, a plan of what it will make,
// and the submission. Nothing typed is lost: the form is drawn before the server has said which
// models it offers, so a submission made meanwhile waits for them (and is sent once), and a draft
// of the form is kept in this browser until it is sent.

import { $, api } from "./common.js";
import { chosenLoras, fillLoras, fillModels, fillResolutions, fitControls, planSoon, requestFields, showSeconds }
  from "./controls.js";
import { clearDraft, loadDraft, saveDraft } from "./draft.js";
import { t } from "./i18n.js";
import { watch } from "./queue.js";
import "./batch.js";  // many at once: prompts one per line, or a CSV or JSONL file
import { modelsKnown, modelsLoaded, state } from "./state.js";

const form = $("#create");

function randomSeed() {
  return Math.floor(Math.random() * 4294967291);
}

// ---- what the form holds, as data: a draft, a remix ---------------------------------------------

// The controls drawn in the page itself (restored at once) and those drawn from the chosen model's
// capabilities (restored once the models are known).
const VALUES = { prompt: "#prompt", negative: "#negative", steps: "#steps", guidance: "#guidance", seed: "#seed",
  variants: "#variants" };
const CHECKS = { seedLock: "#seed-lock", public: "#public" };

function readForm() {
  const fields = Object.fromEntries([...Object.entries(VALUES).map(([name, id]) => [name, $(id).value]),
    ...Object.entries(CHECKS).map(([name, id]) => [name, $(id).checked])]);
  if (!modelsLoaded) return fields;
  return { ...fields, model: $("#model").value, aspect: form.aspect?.value, resolution: $("#resolution").value,
    seconds: $("#seconds").value, loop: $("#loop").checked, loras: chosenLoras() };
}

// keepTyped: text already in a box (typed while the page loaded) is newer than what is restored.
function applyTyped(settings, keepTyped = false) {
  for (const [name, id] of Object.entries(VALUES)) {
    const typed = keepTyped && $(id).tagName !== "SELECT" && $(id).value;
    if (!(name in settings) || typed || (id === "#variants" && !settings[name])) continue;
    $(id).value = settings[name] ?? "";
  }
  for (const [name, id] of Object.entries(CHECKS)) if (name in settings) $(id).checked = Boolean(settings[name]);
}

function applyDrawn(settings) {
  if (state.models.some((m) => m.id === settings.model)) $("#model").value = settings.model;
  fitControls();
  const radio = [...document.querySelectorAll('input[name="aspect"]')].find((r) => r.value === settings.aspect);
  if (radio) { radio.checked = true; fillResolutions(); }
  if (settings.resolution) $("#resolution").value = settings.resolution;
  if (settings.seconds) { $("#seconds").value = settings.seconds; showSeconds(); }
  $("#loop").checked = Boolean(settings.loop);
  fillLoras(new Map((settings.loras || []).map((l) => [l.name, l.weight])));
  planSoon();
}

/** Fill the form from a video (Remix): its prompt, model and settings. */
export function prefill(video) {
  const request = video.request;
  const settings = { prompt: video.prompt ?? "", model: video.model, aspect: request.aspect,
    resolution: request.resolution || request.size, seconds: request.seconds, loop: request.loop,
    seed: video.seed, seedLock: video.seed != null, negative: request.negative_prompt, steps: request.steps,
    guidance: request.guidance, loras: request.loras };
  applyTyped(settings);
  applyDrawn(settings);
  saveDraft(readForm());
}

/** Once the models are known: offer them, with the settings of the draft kept from before a reload. */
export function formReady() {
  fillModels();
  const draft = loadDraft();
  if (draft) applyDrawn(draft);
  if ($("#seed").value === "") $("#seed").value = randomSeed();
  form.removeAttribute("aria-busy");
  if (!sending) $("#plan").textContent = "";
}

// ---- sending -----------------------------------------------------------------------------------

let sending = false;  // one submission at a time: a second Ctrl+Enter meanwhile is not a second video

function promptMissing() {
  if ($("#prompt").value.trim()) return false;
  $("#create-error").textContent = t("create.empty_prompt");
  $("#prompt").focus();
  return true;
}

async function submit() {
  if (sending || promptMissing()) return;
  sending = true;
  const button = $("#submit");
  button.disabled = true;
  try {
    if (!modelsLoaded) {
      $("#plan").textContent = t("create.waiting");
      await modelsKnown;
      if (promptMissing()) return;
    }
    if (!$("#seed-lock").checked) $("#seed").value = randomSeed();
    const fields = { ...requestFields(), public: $("#public").checked };
    const image = $("#image").files[0];
    let made;
    if (image && !$("#image-field").hidden) {
      const body = new FormData();
      for (const [name, value] of Object.entries(fields)) body.append(name, String(value));
      body.append("image", image);
      made = await api("/api/videos", { method: "POST", form: body });
    } else {
      made = await api("/api/videos", { method: "POST", json: fields });
    }
    $("#create-error").textContent = "";
    // Sent: the draft goes, unless a new prompt was typed while it was on its way.
    $("#prompt").value === fields.prompt ? clearDraft() : saveDraft(readForm());
    for (const video of made.data) watch(video, true);
  } catch (error) {
    $("#create-error").textContent = error.message;
  } finally {
    sending = false;
    button.disabled = false;
    planSoon();
  }
}

form.addEventListener("input", (event) => {
  saveDraft(readForm());
  if (event.target.id === "model") return;
  if (event.target.id === "seconds") showSeconds();
  if (event.target.id !== "prompt") planSoon();
});
form.addEventListener("change", () => saveDraft(readForm()));
$("#model").addEventListener("change", () => { fitControls(); saveDraft(readForm()); });
$("#prompt").addEventListener("keydown", (event) => {
  if (event.key !== "Enter" || !(event.ctrlKey || event.metaKey)) return;
  event.preventDefault();
  // Mid-composition (an input method, as for Korean) the last syllable is not in the box yet.
  if (event.isComposing) $("#prompt").addEventListener("compositionend", () => form.requestSubmit(), { once: true });
  else form.requestSubmit();
});
form.addEventListener("submit", (event) => {
  event.preventDefault();
  submit();
});

// Until the models are known the form says so; what was typed before a reload comes back at once.
if (!modelsLoaded) {
  form.setAttribute("aria-busy", "true");
  $("#plan").textContent = t("create.loading");
}
applyTyped(loadDraft() || {}, true);
// A submission made before this module ran (early.js kept it) is sent now, once.
document.documentElement.dataset.studio = "on";
if (document.documentElement.dataset.submitWanted) {
  delete document.documentElement.dataset.submitWanted;
  submit();
}

/** Say why the models are not known yet (a failed request, tried again). */
export function notReady(error) {
  $("#plan").textContent = t("create.retrying", { error: error.message });
}

