// A model as the forms show it: its sizes and aspects, a choice in a <select>, and a line that
// sums up what it makes.

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
  return parts.map((run) => (run.length > 2 ? `${run[0]}-${run.at(-1)}` : run.join(", "))).join(", ");
}

/** A model as a choice, with why it cannot be picked here (no weights, no worker serving it). */
export function modelOption(m, label) {
  const option = new Option(label + (m.weights_present ? "" : " (weights not downloaded)") +
    (m.served ? "" : " (not served here)"), m.id);
  option.disabled = !m.served || !m.weights_present;
  return option;
}

export const usable = (m) => m.served && m.weights_present;

// The directing tools it offers besides loops (a video's page and the storyboard show them).
function directs(verbs = {}) {
  const offered = ["extend", "re-cut", "edit", "blend", "characters"].filter((name) => verbs[name.replace("-", "")]);
  return offered.length ? `directs: ${offered.join(", ")}` : "";
}

/** One line on what a model makes: sizes, frame rates, lengths, inputs, tools and licence. */
export function summary(m) {
  const caps = m.capabilities;
  return [
    caps.any_aspect ? "any size" : `native ${caps.sizes.join(", ")}`, `${runs(caps.fps)} fps`,
    caps.seconds_range ? `${caps.seconds_range.join("-")} s` : `up to ${caps.max_seconds.toFixed(1)} s`,
    caps.image_input ? (caps.image_required ? "needs an image" : "takes an image") : "text only",
    caps.any_output_size && !caps.any_aspect ? "drawn at the size you choose" : "",
    caps.loop ? "loops" : "",
    directs(caps.verbs),
    `licence ${m.licence}`,
  ].filter(Boolean).join(" · ");
}
