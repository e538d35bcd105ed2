// What every view of the web studio shares: a query helper and the studio API's client.

export const $ = (selector, root = document) => root.querySelector(selector);

// ---- the API ---------------------------------------------------------------------------------

export async function api(path, { method = "GET", json, form, file } = {}) {
  const headers = {};
  const key = localStorage.getItem("ungated.key");
  if (key) headers.Authorization = `Bearer ${key}`;
  let body;
  if (json !== undefined) { headers["Content-Type"] = "application/json"; body = JSON.stringify(json); }
  if (form) body = form;
  if (file) { headers["Content-Type"] = "application/octet-stream"; body = file; }
  const response = await fetch(path, { method, headers, body });
  const data = response.headers.get("content-type")?.includes("json") ? await response.json() : null;
  if (!response.ok) {
    const error = new Error(data?.error?.message || `${response.status} ${response.statusText}`);
    error.status = response.status;
    error.param = data?.error?.param;  // the field it names, e.g. "shots.1.seconds"
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
