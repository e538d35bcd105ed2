// What every view of the web studio shares: a query helper and the studio API's client.

import { errorText, t } from "./i18n.js";

export const $ = (selector, root = document) => root.querySelector(selector);

// ---- the API ---------------------------------------------------------------------------------

// Who is signed in (GET /api/session), kept in memory: its CSRF token goes with every write the
// session cookie authenticates (another site can make the browser send the cookie, never read this).
export const session = { signed_in: false, member: null, csrf_token: null, signup: "invite", public_server: false };

export async function loadSession() {
  Object.assign(session, await api("/api/session"));
  return session;
}

export async function api(path, { method = "GET", json, form, file } = {}) {
  const headers = {};
  const key = localStorage.getItem("ungated.key");
  if (key) headers.Authorization = `Bearer ${key}`;
  if (!["GET", "HEAD"].includes(method) && session.csrf_token) headers["X-CSRF-Token"] = session.csrf_token;
  let body;
  if (json !== undefined) { headers["Content-Type"] = "application/json"; body = JSON.stringify(json); }
  if (form) body = form;
  if (file) { headers["Content-Type"] = "application/octet-stream"; body = file; }
  const response = await fetch(path, { method, headers, body });
  const data = response.headers.get("content-type")?.includes("json") ? await response.json() : null;
  if (!response.ok) {
    const said = { message: data?.error?.message || `${response.status} ${response.statusText}`,
      param: data?.error?.param, code: data?.error?.code };  // param: the field it names, e.g. "shots.1.seconds"
    const error = new Error(errorText(said));  // in the reader's language, by its code
    Object.assign(error, { status: response.status, param: said.param, code: said.code, serverMessage: said.message });
    throw error;
  }
  return data;
}

// ---- what a model offers -----------------------------------------------------------------------

// The lengths a model makes: any length in its seconds_range, else what its frame rule allows.
export function secondsRange(caps) {
  if (caps.seconds_range) return { min: caps.seconds_range[0], max: caps.seconds_range[1], step: 0.5 };
  const fps = Math.max(...caps.fps);
  return { min: caps.frames.min / fps, max: caps.max_seconds, step: caps.frames.step / fps };
}

// Words in a list as a sentence writes them: ["a", "b", "c"] -> "a, b or c".
export function spoken(words, last = "or") {
  return words.length < 2 ? words.join("") : `${words.slice(0, -1).join(", ")} ${last} ${words.at(-1)}`;
}

// ---- small pieces of the page ------------------------------------------------------------------

// An element with its text set as text (never parsed as HTML), e.g. element("p", note, "hint").
export function element(tag, text = "", className = "") {
  const made = document.createElement(tag);
  if (text !== "") made.textContent = text;
  if (className) made.className = className;
  return made;
}

// A moment as a person reads it: "12 Mar, 14:05", from unix seconds.
export function when(seconds) {
  return seconds == null ? "never" : new Date(seconds * 1000).toLocaleString([], { dateStyle: "medium", timeStyle: "short" });
}

// Copy the text of an element to the clipboard; where there is none (plain http from another
// machine), select it for Ctrl+C instead. The button says which happened.
export async function copyFrom(source, button) {
  const label = button.textContent;
  try {
    await navigator.clipboard.writeText(source.textContent);
    button.textContent = t("common.copied");
  } catch {
    getSelection().selectAllChildren(source);
    button.textContent = t("common.selected");
  }
  setTimeout(() => { button.textContent = label; }, 2500);
}
