// The create form's controls fitted to the chosen model (its sizes, lengths, LoRAs, what it takes),
// the request they make, and the plan of what the server will make of it.

import { $, api } from "./common.js";
import { language, number, seconds as secondsText, t } from "./i18n.js";
import { kept, listed, phrase } from "./phrases.js";
import { RESOLUTIONS, aspectOf, aspectsOf, modelOption, modelTitle, nativeSizes, summary, usable } from "./models.js";
import { go } from "./nav.js";
import { MODELS_CHANGED, modelsLoaded, refreshModels, state } from "./state.js";

const form = $("#create");
const model = () => state.models.find((m) => m.id === $("#model").value);
let fitted = null;  // the model the controls were last fitted to: a refresh of the list keeps their values

export function fillModels() {
  const select = $("#model");
  const chosen = select.value;  // kept when the list is refreshed (a model trained meanwhile)
  select.replaceChildren(...state.models.map((m) => Object.assign(modelOption(m, modelTitle(m)), { translate: false })));
  const first = state.models.find((m) => m.id === chosen && usable(m)) || state.models.find(usable);
  if (first) select.value = first.id;
  fitControls();
}

export function fitControls() {
  const m = model();
  if (!m) return;
  const caps = m.capabilities;
  const aspects = aspectsOf(caps);
  const chosen = form.aspect?.value;
  const box = $("#aspect-options");
  box.replaceChildren(...aspects.map((aspect) => {
    const label = document.createElement("label");
    const input = Object.assign(document.createElement("input"), { type: "radio", name: "aspect", value: aspect });
    input.checked = aspect === (aspects.includes(chosen) ? chosen : aspects.includes(caps.default_aspect) ? caps.default_aspect : aspects[0]);
    input.addEventListener("change", () => { fillResolutions(); planSoon(); });
    label.append(input, aspect);
    return label;
  }));
  fillResolutions();
  const seconds = $("#seconds");
  const before = fitted === m.id ? seconds.value : null;
  if (caps.seconds_range) {
    const [lo, hi] = caps.seconds_range;
    Object.assign(seconds, { min: lo, max: hi, step: 0.5 });
    seconds.disabled = lo === hi;
  } else {
    const step = caps.frames.step / Math.max(...caps.fps);
    Object.assign(seconds, { min: caps.frames.min / Math.max(...caps.fps), max: caps.max_seconds, step });
    seconds.disabled = caps.frames.min === caps.frames.max;
  }
  seconds.value = before ?? caps.default_seconds;
  fitted = m.id;
  showSeconds();
  $("#loop-field").hidden = !caps.loop;
  Object.assign($("#steps"), { max: caps.max_steps, placeholder: caps.default_steps });
  $("#guidance").placeholder = caps.default_guidance;
  $("#image-field").hidden = !caps.image_input;
  $("#character-hint").hidden = !caps.verbs?.characters;
  fillLoras();
  $("#model-info").replaceChildren(summary(m));
  planSoon();
}

// The server's LoRA library, offered for models that take LoRAs (those trained for another model are left out).
export function fillLoras(chosen = new Map(chosenLoras().map((l) => [l.name, l.weight]))) {
  const m = model();
  const offered = m?.capabilities.loras ? state.loras.filter((l) => !l.model || l.model === m.id) : [];
  $("#lora-field").hidden = offered.length === 0;
  $("#lora-options").replaceChildren(...offered.map((lora) => {
    const row = document.createElement("div");
    row.className = "lora";
    const label = document.createElement("label");
    label.className = "check";
    const box = Object.assign(document.createElement("input"), { type: "checkbox", checked: chosen.has(lora.name) });
    box.dataset.lora = lora.name;
    label.append(box, kept(lora.name));
    const weight = Object.assign(document.createElement("input"),
      { type: "number", min: -4, max: 4, step: 0.1, value: chosen.get(lora.name) ?? 1 });
    weight.dataset.loraWeight = lora.name;
    weight.setAttribute("aria-label", t("controls.lora_weight", { name: lora.name }));
    row.append(label, weight);
    if (lora.example_prompt) row.title = t("controls.lora_about", { count: lora.clips, prompt: lora.example_prompt });
    return row;
  }));
}

export function chosenLoras() {
  return [...document.querySelectorAll("#lora-options [data-lora]")].filter((box) => box.checked).map((box) => ({
    name: box.dataset.lora,
    weight: Number(box.closest(".lora").querySelector("[data-lora-weight]").value),
  }));
}

export function fillResolutions() {
  const caps = model()?.capabilities;
  if (!caps) return;
  const select = $("#resolution");
  const previous = select.value;
  select.replaceChildren();
  if (caps.any_output_size || caps.any_aspect) {
    for (const r of RESOLUTIONS) select.add(Object.assign(new Option(`${r}p`, `${r}p`), { translate: false }));
    select.value = RESOLUTIONS.includes(parseInt(previous)) ? previous : caps.default_resolution;
  } else {
    for (const [w, h] of nativeSizes(caps).filter((s) => aspectOf(s) === form.aspect.value)) {
      select.add(new Option(`${w}×${h}`, `${w}x${h}`));
    }
    if ([...select.options].some((o) => o.value === previous)) select.value = previous;
  }
}

export function showSeconds() {
  $("#seconds-out").textContent = secondsText(Number($("#seconds").value));
}

// The request for the chosen model (only once the models are known).
export function requestFields() {
  const caps = model()?.capabilities;
  if (!caps) throw new Error(t("controls.no_model"));
  const fields = { prompt: $("#prompt").value, model: $("#model").value, variants: Number($("#variants").value) };
  if (caps.any_output_size || caps.any_aspect) {
    Object.assign(fields, { aspect: form.aspect.value, resolution: $("#resolution").value });
  } else fields.size = $("#resolution").value;
  if (!$("#seconds").disabled) fields.seconds = Number($("#seconds").value);
  if (!$("#loop-field").hidden && $("#loop").checked) fields.loop = true;
  if ($("#seed").value !== "") fields.seed = Number($("#seed").value);
  if ($("#negative").value.trim()) fields.negative_prompt = $("#negative").value;
  if ($("#steps").value) fields.steps = Number($("#steps").value);
  if ($("#guidance").value) fields.guidance = Number($("#guidance").value);
  if (!$("#lora-field").hidden && chosenLoras().length) fields.loras = chosenLoras();
  return fields;
}

// ---- the plan: what the server will make of these settings -------------------------------------

let planTimer;
let planAsked = 0;  // only the answer to the latest question is shown (answers can overtake each other)
export function planSoon() {
  clearTimeout(planTimer);
  if (modelsLoaded) planTimer = setTimeout(showPlan, 250);
}

/** What the plan changed to fit the model: the server's notes in English (they say why), else each
 * change in the reader's words. */
function changes(plan) {
  if (language === "en") return plan.adjustments.join("; ");
  return listed(plan.changes.map((change, index) => {
    const { asked, made } = change;
    if (change.field === "size") return phrase("controls.change_size", { asked: kept(asked), made: kept(made) });
    if (change.field === "fps") return phrase("controls.change_fps", { asked: number(asked), made: number(made) });
    if (change.field === "seconds") {
      return phrase("controls.change_seconds", { asked: secondsText(asked), made: secondsText(made) });
    }
    return kept(plan.adjustments[index]);  // a change this studio does not know yet, as the server says it
  }));
}

async function showPlan() {
  const asked = ++planAsked;
  try {
    const fields = requestFields();
    fields.prompt = fields.prompt.trim() || "preview";
    const plan = await api("/api/plan", { method: "POST", json: fields });
    if (asked !== planAsked) return;
    const said = { size: kept(plan.size), seconds: number(plan.seconds, 1), frames: plan.frames, fps: plan.fps,
      count: plan.steps, adjustments: changes(plan) };
    $("#plan").replaceChildren(plan.adjustments.length ? phrase("controls.plan_adjusted", said) : phrase("controls.plan", said));
    $("#create-error").textContent = "";
  } catch (error) {
    if (asked !== planAsked) return;
    $("#plan").textContent = "";
    $("#create-error").textContent = error.message;
  }
}

document.addEventListener(MODELS_CHANGED, fillModels);

/** A model a training run made, chosen in the form. */
export async function useModel(modelId) {
  await refreshModels();
  go("/");
  $("#model").value = modelId;
  fitControls();
  $("#prompt").focus();
}

/** A LoRA a training run made, chosen (at weight 1) for the model it was trained for. */
export async function useLora(run) {
  ({ data: state.loras } = await api("/api/loras"));
  go("/");
  if (state.models.some((m) => m.id === run.model && m.served)) $("#model").value = run.model;
  fitControls();
  fillLoras(new Map([[run.lora, 1]]));
  $("#prompt").focus();
}
