// Where the studio's visible strings live: t(key, values) looks a message up by its key and fills
// its {placeholders}; numbers, lengths and moments are written by the browser's Intl for the
// reader's language. English only for now: the views move their strings here view by view, and a
// catalog per language (same keys) comes with the language switcher.

export const language = "en";

const messages = {
  "create.loading": "Loading the models…",
  "create.waiting": "Sends as soon as the models have loaded.",
  "create.retrying": "The server did not answer yet ({error}): trying again…",
  "create.empty_prompt": "prompt: write what the video should show",
  "queue.next": "next",
  "queue.ahead": "{count} ahead",
  "queue.waiting_for_worker": "Queued ({place}) · no worker is serving {model} right now; it starts when one joins",
  "queue.queued": "Queued ({place})",
  "queue.queued_eta": "Queued ({place}) · about {seconds} s",
  "queue.making": "Making · {progress}%",
  "queue.making_eta": "Making · {progress}% · about {seconds} s left",
  "queue.this_model": "this model",
  "status.completed": "Done",
  "status.failed": "Failed",
  "status.cancelled": "Cancelled",
  "status.deleted": "Deleted",
  "video.private_prompt": "(the artist keeps this prompt private)",
};

/** The message for key in the reader's language, its {names} filled from values. */
export function t(key, values = {}) {
  const text = messages[key] ?? key;
  return text.replace(/\{(\w+)\}/g, (whole, name) => (name in values ? String(values[name]) : whole));
}

/** A number as the reader writes it, e.g. number(1234.5, 1) -> "1,234.5". */
export function number(value, digits = 0) {
  return new Intl.NumberFormat(language, { minimumFractionDigits: digits, maximumFractionDigits: digits }).format(value);
}
