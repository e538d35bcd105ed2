// The video page's directing tools for a finished clip: extend it, re-cut it (continue from a
// moment picked on the player), edit it (same motion, new look), loop it, blend it into another of
// one's clips, and make a character from one of its frames. Only the tools the clip's model offers
// (its capabilities.verbs) are shown, and a line says which it lacks.

import { $, api, secondsRange } from "./common.js";
import { list, number, seconds as secondsText, t } from "./i18n.js";
import { kept, phrase } from "./phrases.js";

// Each tool: the verb it needs, what the form says, its fields (data-for in index.html) and its call.
const TOOLS = {
  extend: {
    verb: "extend", title: t("directing.extend_title"), submit: t("directing.extend_submit"),
    seconds: t("directing.extend_seconds"), about: t("directing.extend_about"),
    body: (form) => ({ prompt: form.prompt || undefined, seconds: form.seconds }),  // none: the clip's own
    call: (video) => `/api/videos/${video.id}/extend`,
  },
  recut: {
    verb: "recut", title: t("directing.recut_title"), submit: t("directing.recut_submit"),
    seconds: t("directing.recut_seconds"), about: t("directing.recut_about"),
    body: (form) => ({ prompt: form.prompt || undefined, seconds: form.seconds, at: form.at }),
    call: (video) => `/api/videos/${video.id}/extend`,
  },
  edit: {
    verb: "edit", title: t("directing.edit_title"), submit: t("directing.edit_submit"),
    promptHint: t("directing.edit_prompt_hint"), about: t("directing.edit_about"),
    body: (form) => ({ prompt: form.prompt }),
    call: (video) => `/api/videos/${video.id}/edit`,
  },
  blend: {
    verb: "blend", title: t("directing.blend_title"), submit: t("directing.blend_submit"),
    seconds: t("directing.blend_seconds"), promptHint: t("directing.blend_prompt_hint"), about: t("directing.blend_about"),
    body: (form) => ({ into: form.into, seconds: form.seconds, prompt: form.prompt || undefined }),
    call: (video) => `/api/videos/${video.id}/blend`,
  },
  character: {
    title: t("directing.character_title"), submit: t("directing.character_submit"), about: t("directing.character_about"),
    body: (form) => ({ name: form.name, video_id: form.video, at: form.at }),
    call: () => "/api/characters",
  },
};
const VERB_WORDS = { extend: t("directing.verb_extend"), recut: t("directing.verb_recut"), edit: t("directing.verb_edit"),
  loop: t("directing.verb_loop"), blend: t("directing.verb_blend") };

let current = null;  // {video, caps, onMade} of the video page shown
let tool = null;  // the open tool's name

/** Fit the tools to a video: `onMade(batch)` watches the videos a tool queued. */
export function showDirecting(video, model, me, onMade) {
  const done = video.status === "completed";
  const section = $("#direct");
  section.hidden = !(done && me?.client);
  if (current?.video.id !== video.id) {
    closeTool();
    $("#direct-state").textContent = "";
  }
  current = { video, caps: model?.capabilities, onMade };
  if (section.hidden) return;
  const verbs = current.caps?.verbs || {};
  for (const [name, spec] of Object.entries(TOOLS)) {
    if (spec.verb) $(`[data-tool="${name}"]`).hidden = !verbs[spec.verb];
  }
  // A looping version is a remix with loop on: not of a loop, nor of an extension (it would redo only the new part).
  $("#make-loop").hidden = !(verbs.loop && !video.request.loop && !video.inputs.includes("extend"));
  const lacking = Object.keys(VERB_WORDS).filter((verb) => !verbs[verb]).map((verb) => VERB_WORDS[verb]);
  $("#direct-lacks").replaceChildren(!model ? phrase("directing.model_missing", { model: kept(video.model) })
    : lacking.length ? phrase("directing.model_lacks", { model: kept(video.model), verbs: list(lacking) }) : "");
}

function openTool(name) {
  const { video, caps } = current;
  const spec = TOOLS[name];
  tool = name;
  for (const button of document.querySelectorAll("#direct-tools [data-tool]")) {
    button.setAttribute("aria-expanded", String(button.dataset.tool === name));
  }
  for (const part of document.querySelectorAll("#direct-form [data-for]")) {
    part.hidden = !part.dataset.for.split(" ").includes(name);
  }
  $("#direct-form-title").textContent = spec.title;
  $("#direct-about").textContent = spec.about;
  $("#direct-submit").textContent = spec.submit;
  $("#direct-prompt-hint").textContent = spec.promptHint || "";
  $("#direct-prompt").value = name === "blend" ? "" : video.prompt ?? "";
  $("#direct-error").textContent = "";
  if (spec.seconds && caps) {
    const range = secondsRange(caps);
    $("#direct-seconds-label").textContent = spec.seconds;
    Object.assign($("#direct-seconds"), { min: range.min, max: range.max, step: range.step,
      value: name === "blend" ? range.min : Math.min(caps.default_seconds, range.max) });
  }
  if (name === "recut" || name === "character") $("#player").pause();
  if (name === "blend") fillBlendChoices(video);
  showTime();
  $("#direct-form").hidden = false;
  $(name === "character" ? "#character-name" : name === "blend" ? "#blend-into" : "#direct-prompt").focus();
}

function closeTool() {
  tool = null;
  $("#direct-form").hidden = true;
  for (const button of document.querySelectorAll("#direct-tools [data-tool]")) button.setAttribute("aria-expanded", "false");
}

// The moment the re-cut continues from (and the character's frame): the player's current time.
function pickedTime() {
  return Math.round($("#player").currentTime * 100) / 100;
}

function showTime() {
  if (!current || !tool) return;
  const duration = current.video.seconds;
  $("#direct-at").textContent = t("directing.at", { at: number(pickedTime(), 2), length: number(duration, 1) });
  const added = Number($("#direct-seconds").value) || 0;
  const upTo = { extend: duration, recut: pickedTime() }[tool];  // what is kept of this clip
  const into = tool === "blend" && $("#blend-into").selectedOptions[0]?.dataset.seconds;
  $("#direct-length").textContent = upTo != null
    ? t("directing.length_kept", { kept: number(upTo, 1), added: number(added, 1), total: number(upTo + added, 1) })
    : into ? t("directing.length_blend", { first: number(duration, 1), added: number(added, 1),
      second: number(Number(into), 1), total: number(duration + added + Number(into), 1) })
      : "";
}

async function fillBlendChoices(video) {
  const select = $("#blend-into");
  select.replaceChildren(new Option(t("directing.blend_loading"), ""));
  try {
    const { data } = await api("/api/me/videos?limit=100");
    const others = data.filter((v) => v.status === "completed" && v.id !== video.id);
    select.replaceChildren(...others.map((v) => {
      const prompt = v.prompt ?? t("directing.private_prompt");
      const option = new Option(t("directing.blend_option", { prompt: prompt.length > 60 ? `${prompt.slice(0, 59)}…` : prompt,
        length: secondsText(v.seconds) }), v.id);
      option.dataset.seconds = v.seconds;
      option.translate = v.prompt == null;  // a prompt is the artist's words
      return option;
    }));
    if (!others.length) select.add(new Option(t("directing.blend_none"), ""));
    select.disabled = !others.length;
    showTime();
  } catch (error) {
    $("#direct-error").textContent = error.message;
  }
}

function formValues() {
  const seconds = $("#direct-seconds").value;
  return { prompt: $("#direct-prompt").value.trim(), seconds: seconds === "" ? undefined : Number(seconds),
    at: pickedTime(), into: $("#blend-into").value, name: $("#character-name").value.trim(), video: current.video.id };
}

// What a person must fix before the request is worth sending, named by the field.
function problem(name, form) {
  if (name === "recut" && form.at <= 0) return t("directing.needs_moment");
  if (name === "edit" && !form.prompt) return t("directing.needs_prompt");
  if (name === "blend" && !form.into) return t("directing.needs_into");
  if (name === "character" && !form.name) return t("directing.needs_name");
  return "";
}

async function submit(event) {
  event.preventDefault();
  const name = tool;
  const spec = TOOLS[name];
  const form = formValues();
  const wrong = problem(name, form);
  $("#direct-error").textContent = wrong;
  if (wrong) return;
  const button = $("#direct-submit");
  button.disabled = true;
  try {
    const answer = await api(spec.call(current.video), { method: "POST", json: spec.body(form) });
    closeTool();
    if (name === "character") {
      $("#direct-state").replaceChildren(phrase("directing.character_saved",
        { name: kept(answer.name), mention: kept(`@${answer.name}`) }));
      $("#character-name").value = "";
    } else current.onMade(answer);
  } catch (error) {
    $("#direct-error").textContent = error.message;
  } finally {
    button.disabled = false;
  }
}

async function makeLoop() {
  try {
    current.onMade(await api(`/api/videos/${current.video.id}/remix`, { method: "POST", json: { loop: true } }));
  } catch (error) {
    $("#direct-state").textContent = error.message;
  }
}

for (const button of document.querySelectorAll("#direct-tools [data-tool]")) {
  button.addEventListener("click", () => (tool === button.dataset.tool ? closeTool() : openTool(button.dataset.tool)));
}
$("#make-loop").addEventListener("click", makeLoop);
$("#direct-close").addEventListener("click", () => {
  const opener = $(`[data-tool="${tool}"]`);
  closeTool();
  opener?.focus();
});
$("#direct-form").addEventListener("submit", submit);
$("#direct-form").addEventListener("input", showTime);
for (const name of ["timeupdate", "seeked"]) $("#player").addEventListener(name, showTime);
