// Translated sentences with people's words in them, as nodes. Text people wrote (a name, a note, a
// reason) goes in an element of its own marked translate="no" (so neither the tests that look for
// English left on a view nor a browser's translator touch it), inside the sentence in the reader's
// language.

import { has, language, locale, t } from "./i18n.js";

// One way in: phrase(key, values), each value a text or a node, gives the message as nodes:
//   $("#who").replaceChildren(phrase("account.signed_in_as", { name: kept(member.name), role }))
// Underneath, a node passes through t() as a mark (held, keep) that nodes() replaces by the node; a
// function that words a sentence once, for a text and for nodes, uses those marks itself.

/** People's words (or an id, a command) in an element of their own (a <span>, or tag) marked translate="no". */
export function kept(text, tag = "span") {
  return Object.assign(document.createElement(tag), { textContent: text, translate: false });
}

const MARK = "\u0001";
const waiting = new Map();  // mark -> the node it stands for, until nodes() places it
let marks = 0;

/** A mark standing for node, to pass to t() as a value; nodes() puts the node where it lands. */
function held(node) {
  const mark = `${MARK}${++marks}${MARK}`;
  waiting.set(mark, node);
  return mark;
}

/** A mark standing for people's words in a <span translate="no">: held(kept(text)). */
export function keep(text) {
  return held(kept(text));
}

/** A translated text as nodes: each mark in it (held, keep) replaced by its node. */
export function nodes(text) {
  const made = document.createDocumentFragment();
  text.split(new RegExp(`(${MARK}\\d+${MARK})`)).forEach((part, i) => {
    if (i % 2) {
      made.append(waiting.get(part) ?? "");
      waiting.delete(part);
    } else if (part) made.append(part);
  });
  return made;
}

/** The message for key as nodes: values that are nodes (kept(name), another phrase) go in where
 * their {placeholder} is; the others are filled as t() fills them (plurals by a number included). */
export function phrase(key, values = {}) {
  return nodes(t(key, Object.fromEntries(Object.entries(values).map(([name, value]) =>
    [name, value instanceof Node ? held(value) : value]))));
}

/** Why a job failed ({code, message} from the server), as nodes: in English the server's sentence; in
 * another language what its code means, with the server's words (often an error's own text) after it. */
export function failure(error) {
  if (!error?.message) return "";
  const key = `errors.${error.code}`;
  if (language === "en" || !JOB_CODES.has(error.code) || !has(key)) return kept(error.message);
  return phrase("queue.failure", { reason: t(key), detail: kept(error.message) });
}
const JOB_CODES = new Set(["cancelled", "generation_failed", "model_removed", "result_refused", "storage_full",
  "training_failed", "upload_failed", "worker_lost"]);  // the codes a job ends with that need no {param}

/** Facts on one line, each a text or nodes, between separators: "joined 12 Mar · you". */
export function joined(facts, separator = " · ") {
  const made = document.createDocumentFragment();
  facts.filter(Boolean).forEach((fact, i) => made.append(...(i ? [separator] : []), fact));
  return made;
}

/** Nodes (or texts) in a list as the reader's language writes one: "a, b and c" ("conjunction"),
 * "a, b or c" ("disjunction"), "a, b, c" ("unit"). */
export function listed(items, type = "unit") {
  return nodes(new Intl.ListFormat(locale, { type }).format(
    items.map((item) => (item instanceof Node ? held(item) : String(item)))));
}
