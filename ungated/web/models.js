// A model as the forms show it: its sizes and aspects, a choice in a <select>, and a line that
// sums up what it makes.

import { list, number, t } from "./i18n.js";
import { joined, kept, phrase } from "./phrases.js";

export const ASPECTS = { "16:9": [16, 9], "9:16": [9, 16], "1:1": [1, 1] };
export const RESOLUTIONS = [360, 480, 720, 1080];

export function aspectOf([w, h]) {
  const ratio = w / h;
  return ratio > 1.2 ? "16:9" : ratio < 0.83 ? "9:16" : "1:1";
}

export function nativeSizes(caps) {
  return caps.sizes.map((size) => size.split("x").map(Number));
}

/** The aspect ratios a model can make. */
export function aspectsOf(caps) {
  const sizes = nativeSizes(caps);
  return caps.any_aspect ? Object.keys(ASPECTS)
    : caps.any_output_size ? Object.keys(ASPECTS).filter((a) => sizes.some((s) => aspectOf(s) === a))
    : [...new Set(sizes.map(aspectOf))];
}

// Numbers as a person reads them, each run of consecutive ones as a range: [8, 9, …, 30] -> "8-30".
function runs(numbers) {
  const parts = [];
  for (const n of [...new Set(numbers)].sort((a, b) => a - b)) {
    const last = parts.at(-1);
    if (last && n === last.at(-1) + 1) last.push(n);
    else parts.push([n]);
  }
  return list(parts.flatMap((run) => (run.length > 2 ? [`${number(run[0])}-${number(run.at(-1))}`] : run.map((n) => number(n)))));
}

/** A model's name for the reader: the built-in ones in their language, the open ones as they are called. */
export function modelTitle(m) {
  if (m.id === "builtin") return t("models.title_builtin");
  if (m.id.startsWith("builtin/")) return t("models.title_trained", { name: m.id.slice("builtin/".length) });
  return m.title || m.id;
}

/** A model as a choice, with why it cannot be picked here (no weights, no worker serving it). */
export function modelOption(m, label) {
  const text = m.served && m.weights_present ? label
    : !m.weights_present && !m.served ? t("models.option_unavailable", { model: label })
      : !m.weights_present ? t("models.option_no_weights", { model: label }) : t("models.option_not_served", { model: label });
  const option = new Option(text, m.id);
  option.disabled = !m.served || !m.weights_present;
  return option;
}

export const usable = (m) => m.served && m.weights_present;

// The directing tools it offers besides loops (a video's page and the storyboard show them).
function directs(verbs = {}) {
  const words = { extend: t("models.tool_extend"), recut: t("models.tool_recut"), edit: t("models.tool_edit"),
    blend: t("models.tool_blend"), characters: t("models.tool_characters") };
  const offered = Object.keys(words).filter((name) => verbs[name]).map((name) => words[name]);
  return offered.length ? t("models.directs", { tools: list(offered, "conjunction") }) : "";
}

/** One line on what a model makes (nodes to append): sizes, frame rates, lengths, inputs, tools and licence. */
export function summary(m) {
  const caps = m.capabilities;
  return joined([
    caps.any_aspect ? t("models.any_size") : t("models.native_sizes", { sizes: list(caps.sizes.map((size) => size.replace("x", "×"))) }),
    t("models.fps", { rates: runs(caps.fps) }),
    caps.seconds_range ? t("models.seconds_range", { min: caps.seconds_range[0], max: caps.seconds_range[1] })
      : t("models.seconds_max", { seconds: number(caps.max_seconds, 1) }),
    caps.image_input ? (caps.image_required ? t("models.image_needed") : t("models.image_taken")) : t("models.text_only"),
    caps.any_output_size && !caps.any_aspect ? t("models.any_output_size") : "",
    caps.loop ? t("models.loops") : "",
    directs(caps.verbs),
    phrase("models.licence", { licence: kept(m.licence) }),
  ]);
}
