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
    throw error;
  }
  return data;
}
