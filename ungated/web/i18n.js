// The studio in the reader's language. Every visible string is a message in a catalog, one file per
// language (web/locales/<code>.json, same keys in each); numbers, plurals, moments and durations
// are written by the browser's Intl. The language is the one chosen in the header (kept in this
// browser), else the first of the browser's languages the server has a catalog for, else English.
// The module waits for its catalog before any view is drawn (top-level await), so t() is ready
// wherever it is called.

const STORED = "ungated.language";
const FALLBACK = "en";

async function load(path) {
  for (let wait = 250; ; wait *= 2) {  // a server still starting is asked again; a missing file is not
    try {
      const response = await fetch(path);
      if (response.ok) return await response.json();
      if (response.status < 500) return null;
    } catch { /* the network blinked: try again */ }
    if (wait > 8000) return null;
    await new Promise((resume) => setTimeout(resume, wait));
  }
}

/** The languages the server has catalogs for: [{code, name}], name in its own language. */
export const languages = (await load("/languages.json")) || [{ code: FALLBACK, name: "English" }];

function choose() {
  const offered = new Set(languages.map((entry) => entry.code));
  const wanted = [localStorage.getItem(STORED), ...(navigator.languages || [navigator.language])].filter(Boolean);
  for (const tag of wanted) {
    const lower = tag.toLowerCase();
    if (offered.has(lower)) return lower;
    if (offered.has(lower.split("-")[0])) return lower.split("-")[0];
  }
  return FALLBACK;
}

/** The code of the language the studio speaks now, e.g. "ko". */
export const language = choose();
// How numbers, moments and lists are written: the studio's English is British ("Favourites"), and
// so are its dates and lists ("12 Mar 2026", "a, b or c").
export const locale = language === FALLBACK ? "en-GB" : language;

const [messages, fallback] = await Promise.all([load(`/static/locales/${language}.json`),
  language === FALLBACK ? null : load(`/static/locales/${FALLBACK}.json`)]);
const plurals = new Intl.PluralRules(locale);
const numbers = new Intl.NumberFormat(locale);

/** Speak another language from now on: remembered in this browser, and the page drawn again in it
 * (a draft of the create form is kept across the reload). */
export function setLanguage(code) {
  localStorage.setItem(STORED, code);
  location.reload();
}

/** Whether the catalog has a message for key. */
export function has(key) {
  return Boolean(messages?.[key] ?? fallback?.[key]);
}

/** The message for key in the reader's language, its {names} filled from values. A message with
 * forms by number ({"one": …, "other": …}) takes the form for values.count. Numbers are written
 * as the reader writes them; pass a string (a seed, an id) to keep it as it is. */
export function t(key, values = {}) {
  let text = messages?.[key] ?? fallback?.[key] ?? key;
  if (typeof text === "object") text = text[plurals.select(values.count ?? 0)] ?? text.other;
  return text.replace(/\{(\w+)\}/g, (whole, name) => {
    if (!(name in values)) return whole;
    const value = values[name];
    return typeof value === "number" ? numbers.format(value) : String(value);
  });
}

/** A number as the reader writes it, e.g. number(1234.5, 1) -> "1,234.5" in English. */
export function number(value, digits = 0) {
  return new Intl.NumberFormat(locale, { minimumFractionDigits: digits, maximumFractionDigits: digits }).format(value);
}

/** A length of time, e.g. duration(75) -> "1m 15s" in English, "1 min 15 s" in French, "1분 15초" in Korean. */
export function duration(seconds) {
  let left = Math.max(0, Math.round(seconds));
  const parts = {};
  for (const [unit, size] of [["hours", 3600], ["minutes", 60], ["seconds", 1]]) {
    if (left >= size || (unit === "seconds" && !Object.keys(parts).length)) parts[unit] = Math.floor(left / size);
    left %= size;
  }
  return new Intl.DurationFormat(locale, { style: "narrow" }).format(parts);
}

/** A length in seconds as a clip's length is written, e.g. seconds(5.5) -> "5.5s" ("5,5 s" in French). */
export function seconds(value) {
  return new Intl.NumberFormat(locale, { style: "unit", unit: "second", unitDisplay: "narrow",
    maximumFractionDigits: 1 }).format(value);
}

/** A moment from unix seconds, e.g. "12 Mar 2026, 14:05"; null is "never". */
export function moment(unixSeconds) {
  if (unixSeconds == null) return t("time.never");
  return new Intl.DateTimeFormat(locale, { dateStyle: "medium", timeStyle: "short" }).format(unixSeconds * 1000);
}

/** Words in a list as a sentence writes them: ["a", "b", "c"] -> "a, b or c" (type "disjunction")
 * or "a, b and c" ("conjunction"). */
export function list(words, type = "disjunction") {
  return new Intl.ListFormat(locale, { type }).format(words);
}

/** What an error from the API says, in the reader's language: by its stable code where the catalog
 * has it (the server's English sentence is more specific, so English readers get that). */
export function errorText(error) {
  const key = `errors.${error.code}`;
  if (language === FALLBACK || !error.code || !messages?.[key]) return error.message;
  return t(key, { param: error.param ?? "" });
}

// ---- the page's own text -----------------------------------------------------------------------

// Elements carry the key of their text (data-i18n) and of their attributes (data-i18n-placeholder,
// data-i18n-aria-label, data-i18n-title); the English in index.html is what a page without this
// module shows, and tests/test_i18n.py keeps it equal to the English catalog.
const ATTRIBUTES = ["placeholder", "aria-label", "title"];

/** Put the page's text (and its templates') in the reader's language. */
export function translatePage(root = document) {
  for (const node of root.querySelectorAll("[data-i18n]")) node.textContent = t(node.dataset.i18n);
  for (const attribute of ATTRIBUTES) {
    for (const node of root.querySelectorAll(`[data-i18n-${attribute}]`)) {
      node.setAttribute(attribute, t(node.getAttribute(`data-i18n-${attribute}`)));
    }
  }
  for (const template of root.querySelectorAll("template")) translatePage(template.content);
}

document.documentElement.lang = language;
translatePage();
