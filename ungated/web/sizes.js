// The sizes a storyboard offers for its model: the model's own sizes, or, for a model that draws any
// size, each aspect at a few short sides, computed as the server computes them (request.output_size).

import { t } from "./i18n.js";

const ASPECTS = { "16:9": [16, 9], "9:16": [9, 16], "1:1": [1, 1] };
const SHORT_SIDES = [144, 360, 480, 720, 1080];  // 144: a quick draft, to try a board before making it large
const RESOLUTION_SIDES = { "360p": 360, "480p": 480, "720p": 720, "1080p": 1080 };

// WIDTHxHEIGHT of an aspect at a short side.
function sizeOf(aspect, side) {
  const [w, h] = ASPECTS[aspect];
  const long = 2 * Math.round(side * Math.max(w, h) / Math.min(w, h) / 2);
  return w > h ? `${long}x${side}` : h > w ? `${side}x${long}` : `${side}x${side}`;
}

/** Offer caps' sizes in select, choosing the one picked before (if offered), else the board's saved
 * settings' (size, or aspect and resolution), else the model's default. */
export function fillSizes(select, caps, saved) {
  const anySize = caps.any_aspect || caps.any_output_size;
  const sizes = anySize
    ? Object.keys(ASPECTS).flatMap((aspect) => SHORT_SIDES.map((side) => {
      const size = sizeOf(aspect, side);
      const shown = { aspect, size: size.replace("x", "×") };
      return [size, side === 144 ? t("storyboard.size_draft", shown) : t("storyboard.size", shown)];
    }))
    : caps.sizes.map((size) => [size, size.replace("x", "×")]);
  select.replaceChildren(...sizes.map(([value, label]) => new Option(label, value)));
  const { size, aspect, resolution } = saved;
  const savedSize = size || (anySize && (aspect || resolution)
    ? sizeOf(aspect || caps.default_aspect, RESOLUTION_SIDES[resolution || caps.default_resolution]) : null);
  const fallback = anySize ? sizeOf(caps.default_aspect, RESOLUTION_SIDES[caps.default_resolution]) : sizes[0][0];
  const chosen = select.dataset.chosen || savedSize;  // a size picked before the model changed stays, if offered
  select.value = sizes.some(([value]) => value === chosen) ? chosen : fallback;
}
