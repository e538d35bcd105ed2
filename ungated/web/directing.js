// The video page's directing tools for a finished clip: extend it, re-cut it (continue from a
// moment picked on the player), edit it (same motion, new look), loop it, blend it into another of
// one's clips, and make a character from one of its frames. Only the tools the clip's model offers
// (its capabilities.verbs) are shown, and a line says which it lacks.

import { $, api, secondsRange, spoken } from "./common.js";

// Each tool: the verb it needs, what the form says, its fields (data-for in index.html) and its call.
const TOOLS = {
  extend: {
    verb: "extend", title: "Extend", submit: "Extend it", seconds: "Seconds to add",
    about: "Continues the clip from its end: the new video is this clip and what follows.",
    body: (form) => ({ prompt: form.prompt || undefined, seconds: form.seconds }),  // none: the clip's own
    call: (video) => `/api/videos/${video.id}/extend`,
  },
  recut: {
    verb: "recut", title: "Re-cut", submit: "Continue from here", seconds: "Seconds to add after that moment",
    about: "Keeps the clip up to the moment picked on the player, drops what came after, and continues from there.",
    body: (form) => ({ prompt: form.prompt || undefined, seconds: form.seconds, at: form.at }),
    call: (video) => `/api/videos/${video.id}/extend`,
  },
  edit: {
    verb: "edit", title: "Edit", submit: "Make the edit", promptHint: "(same motion, new look: say how it should look now)",
    about: "A new version of this clip as the prompt says, with the same motion.",
    body: (form) => ({ prompt: form.prompt }),
    call: (video) => `/api/videos/${video.id}/edit`,
  },
  blend: {
    verb: "blend", title: "Blend", submit: "Blend them", seconds: "Seconds of transition",
    promptHint: "(optional: what happens in between)",
    about: "A transition from this clip's last frames into another clip's first: this clip, the transition, then the other.",
    body: (form) => ({ into: form.into, seconds: form.seconds, prompt: form.prompt || undefined }),
    call: (video) => `/api/videos/${video.id}/blend`,
  },
  character: {
    title: "Make a character from this frame", submit: "Save character",
    about: "Saves the frame at the player's time as a character, kept for your prompts (@name) and storyboard shots.",
    body: (form) => ({ name: form.name, video_id: form.video, at: form.at }),
    call: () => "/api/characters",
  },
};
const VERB_WORDS = { extend: "extend", recut: "re-cut", edit: "edit", loop: "loop", blend: "blend" };

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
  $("#direct-lacks").textContent = !model
    ? `${video.model} is not on this server, so its clips cannot be directed here.`
    : lacking.length ? `${video.model} cannot ${spoken(lacking)} clips.` : "";
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
  $("#direct-at").textContent = `${pickedTime().toFixed(2)} s of ${duration.toFixed(1)} s`;
  const added = Number($("#direct-seconds").value) || 0;
  const kept = { extend: duration, recut: pickedTime() }[tool];
  const into = tool === "blend" && $("#blend-into").selectedOptions[0]?.dataset.seconds;
  $("#direct-length").textContent = kept != null ? `The new clip: ${kept.toFixed(1)} s kept + ${added.toFixed(1)} s new = ${(kept + added).toFixed(1)} s`
    : into ? `The new clip: ${duration.toFixed(1)} + ${added.toFixed(1)} + ${Number(into).toFixed(1)} = ${(duration + added + Number(into)).toFixed(1)} s`
      : "";
}

async function fillBlendChoices(video) {
  const select = $("#blend-into");
  select.replaceChildren(new Option("Loading your videos…", ""));
  try {
    const { data } = await api("/api/me/videos?limit=100");
    const others = data.filter((v) => v.status === "completed" && v.id !== video.id);
    select.replaceChildren(...others.map((v) => {
      const prompt = v.prompt ?? "(private prompt)";
      const option = new Option(`${prompt.length > 60 ? `${prompt.slice(0, 59)}…` : prompt} · ${v.seconds.toFixed(1)} s`, v.id);
      option.dataset.seconds = v.seconds;
      return option;
    }));
    if (!others.length) select.add(new Option("No other finished videos of yours yet: make one first", ""));
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
  if (name === "recut" && form.at <= 0) return "moment: play or scrub the video to the moment to continue from";
  if (name === "edit" && !form.prompt) return "prompt: say how the clip should look now";
  if (name === "blend" && !form.into) return "into: pick another of your finished videos to blend into";
  if (name === "character" && !form.name) return "name: give the character a name, used in prompts as @name";
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
      $("#direct-state").textContent = `Saved the character @${answer.name}: write @${answer.name} in a prompt, or pick it for a storyboard shot.`;
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
