// The ungated web studio: plain modules on the studio API (/api), no build step, nothing fetched
// from elsewhere. Every user-supplied string is set as text (textContent), never as HTML.

const $ = (selector, root = document) => root.querySelector(selector);
const ASPECTS = { "16:9": [16, 9], "9:16": [9, 16], "1:1": [1, 1] };
const RESOLUTIONS = [360, 480, 720, 1080];
const state = { models: [], loras: [], me: null, watching: new Map(), list: null };

// ---- the API ---------------------------------------------------------------------------------

async function api(path, { method = "GET", json, form } = {}) {
  const headers = {};
  const key = localStorage.getItem("ungated.key");
  if (key) headers.Authorization = `Bearer ${key}`;
  let body;
  if (json !== undefined) { headers["Content-Type"] = "application/json"; body = JSON.stringify(json); }
  if (form) body = form;
  const response = await fetch(path, { method, headers, body });
  const data = response.headers.get("content-type")?.includes("json") ? await response.json() : null;
  if (!response.ok) {
    const error = new Error(data?.error?.message || `${response.status} ${response.statusText}`);
    error.status = response.status;
    throw error;
  }
  return data;
}

// ---- theme and settings ----------------------------------------------------------------------

function applyTheme(theme) {
  if (theme) document.documentElement.dataset.theme = theme;
}
applyTheme(localStorage.getItem("ungated.theme"));
$("#theme").addEventListener("click", () => {
  const dark = document.documentElement.dataset.theme
    ? document.documentElement.dataset.theme === "dark"
    : matchMedia("(prefers-color-scheme: dark)").matches;
  const theme = dark ? "light" : "dark";
  localStorage.setItem("ungated.theme", theme);
  applyTheme(theme);
});

$("#settings-open").addEventListener("click", () => {
  $("#artist").value = state.me?.artist || "";
  $("#api-key").value = localStorage.getItem("ungated.key") || "";
  $("#settings-error").textContent = "";
  $("#settings").showModal();
});
$("#settings-save").addEventListener("click", async (event) => {
  event.preventDefault();
  const key = $("#api-key").value.trim();
  key ? localStorage.setItem("ungated.key", key) : localStorage.removeItem("ungated.key");
  try {
    state.me = await api("/api/me");
    if (state.me.client) state.me = await api("/api/me", { method: "PUT", json: { artist: $("#artist").value } });
    $("#settings").close();
  } catch (error) {
    $("#settings-error").textContent = error.message;
  }
});

// ---- routing ---------------------------------------------------------------------------------

const LISTS = {
  feed: { title: "Feed", path: "/api/feed" },
  mine: { title: "My videos", path: "/api/me/videos" },
  favourites: { title: "Favourites", path: "/api/me/favourites" },
};

function route() {
  const path = location.pathname;
  const videoId = path.startsWith("/v/") ? decodeURIComponent(path.slice(3)) : null;
  const view = videoId ? "video" : { "/feed": "feed", "/me": "mine", "/favourites": "favourites" }[path] || "create";
  for (const link of document.querySelectorAll("nav a")) {
    link.toggleAttribute("aria-current", link.dataset.view === view);
    if (link.dataset.view === view) link.setAttribute("aria-current", "page");
  }
  $("#view-create").hidden = view !== "create";
  $("#view-list").hidden = !LISTS[view];
  $("#view-video").hidden = view !== "video";
  if (view !== "video") $("#player").pause();
  if (LISTS[view]) showList(view);
  if (videoId) showVideo(videoId);
  document.title = videoId ? "Video · ungated" : `${LISTS[view]?.title || "Create"} · ungated`;
}

function go(path) {
  history.pushState(null, "", path);
  route();
  $("#main").focus({ preventScroll: true });
  scrollTo(0, 0);
}

document.addEventListener("click", (event) => {
  const link = event.target.closest("a[data-nav], a.card-link, a.job-open");
  if (!link || event.ctrlKey || event.metaKey || event.shiftKey || event.button !== 0) return;
  event.preventDefault();
  go(link.getAttribute("href"));
});
addEventListener("popstate", route);

// ---- the create form -------------------------------------------------------------------------

const form = $("#create");
const model = () => state.models.find((m) => m.id === $("#model").value);

function aspectOf([w, h]) {
  const ratio = w / h;
  return ratio > 1.2 ? "16:9" : ratio < 0.83 ? "9:16" : "1:1";
}

function nativeSizes(caps) {
  return caps.sizes.map((size) => size.split("x").map(Number));
}

function fillModels() {
  const select = $("#model");
  select.replaceChildren();
  for (const m of state.models) {
    const option = new Option(m.title + (m.weights_present ? "" : " (weights not downloaded)") +
      (m.served ? "" : " (not served here)"), m.id);
    option.disabled = !m.served || !m.weights_present;
    select.add(option);
  }
  const first = state.models.find((m) => m.served && m.weights_present);
  if (first) select.value = first.id;
  fitControls();
}

function fitControls() {
  const m = model();
  if (!m) return;
  const caps = m.capabilities;
  const sizes = nativeSizes(caps);
  const aspects = caps.any_output_size ? Object.keys(ASPECTS).filter((a) => sizes.some((s) => aspectOf(s) === a))
    : [...new Set(sizes.map(aspectOf))];
  const chosen = form.aspect?.value;
  const box = $("#aspect-options");
  box.replaceChildren(...aspects.map((aspect) => {
    const label = document.createElement("label");
    const input = Object.assign(document.createElement("input"), { type: "radio", name: "aspect", value: aspect });
    input.checked = aspect === (aspects.includes(chosen) ? chosen : aspects.includes(caps.default_aspect) ? caps.default_aspect : aspects[0]);
    input.addEventListener("change", () => { fillResolutions(); planSoon(); });
    label.append(input, aspect);
    return label;
  }));
  fillResolutions();
  const seconds = $("#seconds");
  const step = caps.frames.step / Math.max(...caps.fps);
  Object.assign(seconds, { min: caps.frames.min / Math.max(...caps.fps), max: caps.max_seconds, step });
  seconds.value = caps.default_seconds;
  seconds.disabled = caps.frames.min === caps.frames.max;
  showSeconds();
  Object.assign($("#steps"), { max: caps.max_steps, placeholder: caps.default_steps });
  $("#guidance").placeholder = caps.default_guidance;
  $("#image-field").hidden = !caps.image_input;
  fillLoras();
  $("#model-info").textContent = [
    `native ${caps.sizes.join(", ")}`, `${caps.fps.join("/")} fps`, `up to ${caps.max_seconds.toFixed(1)} s`,
    caps.image_input ? (caps.image_required ? "needs an image" : "takes an image") : "text only",
    caps.any_output_size ? "drawn at the size you choose" : "",
    `licence ${m.licence}`,
  ].filter(Boolean).join(" · ");
  planSoon();
}

// The server's LoRA library, offered for models that take LoRAs (those trained for another model are left out).
function fillLoras(chosen = new Map(chosenLoras().map((l) => [l.name, l.weight]))) {
  const m = model();
  const usable = m.capabilities.loras ? state.loras.filter((l) => !l.model || l.model === m.id) : [];
  $("#lora-field").hidden = usable.length === 0;
  $("#lora-options").replaceChildren(...usable.map((lora) => {
    const row = document.createElement("div");
    row.className = "lora";
    const label = document.createElement("label");
    label.className = "check";
    const box = Object.assign(document.createElement("input"), { type: "checkbox", checked: chosen.has(lora.name) });
    box.dataset.lora = lora.name;
    label.append(box, lora.name);
    const weight = Object.assign(document.createElement("input"),
      { type: "number", min: -4, max: 4, step: 0.1, value: chosen.get(lora.name) ?? 1 });
    weight.dataset.loraWeight = lora.name;
    weight.setAttribute("aria-label", `${lora.name} weight`);
    row.append(label, weight);
    if (lora.example_prompt) row.title = `trained on ${lora.clips} clips, e.g. “${lora.example_prompt}”`;
    return row;
  }));
}

function chosenLoras() {
  return [...document.querySelectorAll("#lora-options [data-lora]")].filter((box) => box.checked).map((box) => ({
    name: box.dataset.lora,
    weight: Number(box.closest(".lora").querySelector("[data-lora-weight]").value),
  }));
}

function fillResolutions() {
  const caps = model().capabilities;
  const aspect = form.aspect.value;
  const select = $("#resolution");
  const previous = select.value;
  select.replaceChildren();
  if (caps.any_output_size) {
    for (const r of RESOLUTIONS) select.add(new Option(`${r}p`, `${r}p`));
    select.value = RESOLUTIONS.includes(parseInt(previous)) ? previous : caps.default_resolution;
  } else {
    for (const [w, h] of nativeSizes(caps).filter((s) => aspectOf(s) === aspect)) {
      select.add(new Option(`${w}×${h}`, `${w}x${h}`));
    }
  }
}

function showSeconds() {
  $("#seconds-out").textContent = `${Number($("#seconds").value).toFixed(1)} s`;
}

function randomSeed() {
  return Math.floor(Math.random() * 4294967291);
}

function requestFields() {
  const caps = model().capabilities;
  const fields = { prompt: $("#prompt").value, model: $("#model").value, variants: Number($("#variants").value) };
  if (caps.any_output_size) Object.assign(fields, { aspect: form.aspect.value, resolution: $("#resolution").value });
  else fields.size = $("#resolution").value;
  if (!$("#seconds").disabled) fields.seconds = Number($("#seconds").value);
  if ($("#seed").value !== "") fields.seed = Number($("#seed").value);
  if ($("#negative").value.trim()) fields.negative_prompt = $("#negative").value;
  if ($("#steps").value) fields.steps = Number($("#steps").value);
  if ($("#guidance").value) fields.guidance = Number($("#guidance").value);
  if (!$("#lora-field").hidden && chosenLoras().length) fields.loras = chosenLoras();
  return fields;
}

let planTimer;
function planSoon() {
  clearTimeout(planTimer);
  planTimer = setTimeout(showPlan, 250);
}

async function showPlan() {
  const fields = requestFields();
  fields.prompt = fields.prompt.trim() || "preview";
  try {
    const plan = await api("/api/plan", { method: "POST", json: fields });
    const notes = plan.adjustments.length ? ` Adjusted to the model: ${plan.adjustments.join("; ")}.` : "";
    $("#plan").textContent = `Makes ${plan.size}, ${plan.seconds.toFixed(1)} s (${plan.frames} frames at ${plan.fps} fps), ` +
      `${plan.steps} steps.${notes}`;
    $("#create-error").textContent = "";
  } catch (error) {
    $("#plan").textContent = "";
    $("#create-error").textContent = error.message;
  }
}

form.addEventListener("input", (event) => {
  if (event.target.id === "model") return;
  if (event.target.id === "seconds") showSeconds();
  if (event.target.id !== "prompt") planSoon();
});
$("#model").addEventListener("change", fitControls);
$("#prompt").addEventListener("keydown", (event) => {
  if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
    event.preventDefault();
    form.requestSubmit();
  }
});

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  const button = $("#submit");
  if (!$("#prompt").value.trim()) {
    $("#create-error").textContent = "prompt: write what the video should show";
    $("#prompt").focus();
    return;
  }
  if (!$("#seed-lock").checked) $("#seed").value = randomSeed();
  const fields = { ...requestFields(), public: $("#public").checked };
  button.disabled = true;
  try {
    const image = $("#image").files[0];
    let made;
    if (image && !$("#image-field").hidden) {
      const body = new FormData();
      for (const [name, value] of Object.entries(fields)) body.append(name, String(value));
      body.append("image", image);
      made = await api("/api/videos", { method: "POST", form: body });
    } else {
      made = await api("/api/videos", { method: "POST", json: fields });
    }
    $("#create-error").textContent = "";
    for (const video of made.data) watch(video, true);
  } catch (error) {
    $("#create-error").textContent = error.message;
  } finally {
    button.disabled = false;
  }
});

function prefill(video) {
  const request = video.request;
  $("#prompt").value = video.prompt;
  if (state.models.some((m) => m.id === video.model)) $("#model").value = video.model;
  fitControls();
  if (request.aspect) {
    const radio = [...document.querySelectorAll('input[name="aspect"]')].find((r) => r.value === request.aspect);
    if (radio) { radio.checked = true; fillResolutions(); }
  }
  if (request.resolution || request.size) $("#resolution").value = request.resolution || request.size;
  if (request.seconds) { $("#seconds").value = request.seconds; showSeconds(); }
  $("#seed").value = video.seed;
  $("#seed-lock").checked = true;
  $("#negative").value = request.negative_prompt || "";
  $("#steps").value = request.steps || "";
  $("#guidance").value = request.guidance ?? "";
  fillLoras(new Map((request.loras || []).map((l) => [l.name, l.weight])));
  planSoon();
}

// ---- the queue panel: live progress by Server-Sent Events --------------------------------------

function describe(video) {
  if (video.status === "queued") {
    const place = video.queue_position === 0 ? "next" : `${video.queue_position} ahead`;
    return `Queued (${place})${video.eta_seconds != null ? ` · about ${Math.ceil(video.eta_seconds)} s` : ""}`;
  }
  if (video.status === "in_progress") {
    return `Making · ${video.progress}%${video.eta_seconds != null ? ` · about ${Math.ceil(video.eta_seconds)} s left` : ""}`;
  }
  return { completed: "Done", failed: "Failed", cancelled: "Cancelled", deleted: "Deleted" }[video.status] || video.status;
}

function watch(video, fresh = false) {
  if (state.watching.has(video.id)) return;
  const item = $("#job-template").content.firstElementChild.cloneNode(true);
  item.dataset.id = video.id;
  $(".job-prompt", item).textContent = video.prompt;
  $(".job-cancel", item).addEventListener("click", async () => {
    try { await api(`/api/videos/${video.id}/cancel`, { method: "POST" }); } catch (error) { $(".job-error", item).textContent = error.message; }
  });
  $(".job-retry", item).addEventListener("click", async () => {
    try {
      const made = await api(`/api/videos/${video.id}/retry`, { method: "POST" });
      made.data.forEach((v) => watch(v, true));
    } catch (error) { $(".job-error", item).textContent = error.message; }
  });
  fresh ? $("#queue").prepend(item) : $("#queue").append(item);
  $("#queue-empty").hidden = true;
  const update = (event) => {
    const data = JSON.parse(event.data);
    $(".job-state", item).textContent = describe(data);
    $("progress", item).value = data.status === "completed" ? 100 : data.progress;
    item.dataset.status = data.status;
    if (data.preview) Object.assign($(".preview", item), { src: data.preview, hidden: false });
    const finished = event.type === "done";
    $(".job-cancel", item).hidden = finished;
    $(".job-retry", item).hidden = !(data.status === "failed" || data.status === "cancelled");
    $(".job-error", item).textContent = data.error || "";
    if (data.status === "completed") {
      Object.assign($(".preview", item), { src: `/v1/videos/${video.id}/content?variant=thumbnail`, hidden: false });
      const open = $(".job-open", item);
      open.href = `/v/${video.id}`;
      open.hidden = false;
    }
    if (finished) { source.close(); state.watching.delete(video.id); }
  };
  const source = new EventSource(`/api/videos/${video.id}/events`);
  source.addEventListener("progress", update);
  source.addEventListener("done", update);
  state.watching.set(video.id, source);
}

// ---- feed, my videos, favourites ---------------------------------------------------------------

function card(video) {
  const item = $("#card-template").content.firstElementChild.cloneNode(true);
  const link = $(".card-link", item);
  link.href = `/v/${video.id}`;
  link.setAttribute("aria-label", `Open video: ${video.prompt}`);
  $(".thumb", item).src = video.links.thumbnail || "/static/icon.svg";
  $(".card-prompt", item).textContent = video.prompt;
  $(".card-meta", item).textContent = [video.model, video.artist && `by ${video.artist}`,
    video.status !== "completed" && video.status].filter(Boolean).join(" · ");
  const clip = $(".hover", item);
  const play = (on) => {
    if (!video.links.video) return;
    if (on) { clip.src ||= video.links.video; clip.hidden = false; clip.play().catch(() => {}); }
    else { clip.pause(); clip.hidden = true; }
  };
  link.addEventListener("pointerenter", (e) => e.pointerType === "mouse" && play(true));
  link.addEventListener("pointerleave", (e) => e.pointerType === "mouse" && play(false));
  link.addEventListener("focus", () => play(true));
  link.addEventListener("blur", () => play(false));
  $(".play", item).addEventListener("click", () => play(clip.hidden));
  $(".play", item).hidden = !video.links.video;
  const favourite = $(".favourite", item);
  favourite.hidden = !state.me?.client;
  setFavourite(favourite, video.favourite);
  favourite.addEventListener("click", async () => {
    const on = favourite.getAttribute("aria-pressed") !== "true";
    await api(`/api/videos/${video.id}/favourite`, { method: on ? "PUT" : "DELETE" });
    setFavourite(favourite, on);
  });
  const remove = $(".delete", item);
  remove.hidden = !(video.mine || state.me?.admin);
  remove.addEventListener("click", async () => {
    if (!confirm("Delete this video and its files?")) return;
    await api(`/api/videos/${video.id}`, { method: "DELETE" });
    item.remove();
  });
  return item;
}

function setFavourite(button, on) {
  button.setAttribute("aria-pressed", String(on));
  button.firstChild.textContent = button.classList.contains("favourite") ? (on ? "★" : "☆") : (on ? "★ Favourite" : "☆ Favourite");
}

async function showList(view, after = null) {
  const list = LISTS[view];
  state.list = view;
  $("#list-title").textContent = list.title;
  if (!after) $("#grid").replaceChildren();
  try {
    const page = await api(`${list.path}?limit=24${after ? `&after=${encodeURIComponent(after)}` : ""}`);
    if (state.list !== view) return;
    $("#grid").append(...page.data.map(card));
    $("#list-empty").hidden = $("#grid").children.length > 0;
    const more = $("#more");
    more.hidden = !page.has_more;
    more.onclick = () => showList(view, page.last_id);
  } catch (error) {
    $("#list-empty").hidden = false;
    $("#list-empty").textContent = error.message;
  }
}

// ---- the video page ----------------------------------------------------------------------------

async function showVideo(id) {
  const player = $("#player");
  let video;
  try {
    video = await api(`/api/videos/${encodeURIComponent(id)}`);
  } catch (error) {
    $("#video-title").textContent = "Video not found";
    $("#video-state").textContent = error.message;
    $("#video-facts").replaceChildren();
    player.removeAttribute("src");
    return;
  }
  $("#video-title").textContent = video.prompt;
  const done = video.status === "completed";
  $("#video-state").textContent = done ? "" : describe(video);
  if (done && player.dataset.id !== video.id) {
    player.src = video.links.video;
    player.poster = video.links.thumbnail;
    player.dataset.id = video.id;
  }
  player.hidden = !done;
  const facts = [
    ["Model", video.model], ["Seed", video.seed], ["Size", video.size], ["Length", `${video.seconds.toFixed(1)} s`],
    ["Created", new Date(video.created_at * 1000).toLocaleString()], ["Artist", video.artist || "not credited"],
    ["Provenance", done ? "checking…" : "made when the clip is done"],
    ["Listed in feed", video.public ? "yes" : "no (open by link)"],
  ];
  if (video.remixed_from) facts.push(["Remix of", video.remixed_from]);
  $("#video-facts").replaceChildren(...facts.flatMap(([name, value]) => {
    const dt = document.createElement("dt");
    const dd = document.createElement("dd");
    dt.textContent = name;
    dd.textContent = String(value);
    return [dt, dd];
  }));
  if (done) showProvenance(video.id);
  for (const [selector, url] of [["#download-mp4", video.links.video], ["#download-gif", video.links.gif]]) {
    const link = $(selector);
    link.hidden = !url;
    if (url) link.href = url;
  }
  $("#copy-link").onclick = async () => {
    const url = new URL(video.links.share, location.origin).href;
    try { await navigator.clipboard.writeText(url); $("#copy-state").textContent = `Copied ${url}`; }
    catch { $("#copy-state").textContent = url; }
  };
  $("#remix").onclick = () => { go("/"); prefill(video); $("#prompt").focus(); };
  const extendable = state.models.find((m) => m.id === video.model)?.capabilities.extend_input;
  $("#extend").hidden = !(done && extendable && state.me?.client);
  $("#extend").onclick = async () => {
    try {
      const made = await api(`/api/videos/${video.id}/extend`, { method: "POST", json: {} });
      go("/");
      made.data.forEach((v) => watch(v, true));
    } catch (error) { $("#video-state").textContent = error.message; }
  };
  const favourite = $("#video-favourite");
  favourite.hidden = !state.me?.client;
  setFavourite(favourite, video.favourite);
  favourite.onclick = async () => {
    const on = favourite.getAttribute("aria-pressed") !== "true";
    await api(`/api/videos/${video.id}/favourite`, { method: on ? "PUT" : "DELETE" });
    setFavourite(favourite, on);
  };
  $("#video-delete").hidden = !(video.mine || state.me?.admin);
  $("#video-delete").onclick = async () => {
    if (!confirm("Delete this video and its files?")) return;
    await api(`/api/videos/${video.id}`, { method: "DELETE" });
    go("/me");
  };
  if (!done && !["failed", "cancelled"].includes(video.status)) setTimeout(() => {
    if (location.pathname === `/v/${id}`) showVideo(id);
  }, 1000);
}

async function showProvenance(id) {
  const badge = [...document.querySelectorAll("#video-facts dt")].find((dt) => dt.textContent === "Provenance")
    ?.nextElementSibling;
  if (!badge) return;
  try {
    const report = await api(`/api/videos/${id}/provenance`);
    const m = report.manifest;
    const parts = {
      signed: `✓ signed (C2PA${m.state === "Trusted" ? ", this server's certificate" : ""})`,
      tampered: "✗ the file no longer matches its signature",
      unsigned: "not signed",
    }[report.verdict];
    const details = [parts, m.ai_generated && "made with an AI model", m.artist && `by ${m.artist}`,
      report.watermark_id && `watermark ${report.watermark_id}`].filter(Boolean);
    badge.textContent = details.join(" · ");
    badge.dataset.verdict = report.verdict;
  } catch (error) {
    badge.textContent = `could not check (${error.message})`;
  }
}

// ---- start -------------------------------------------------------------------------------------

async function start() {
  route();
  try {
    [state.me, { data: state.models }, { data: state.loras }] = await Promise.all(
      [api("/api/me"), api("/api/models"), api("/api/loras")]);
  } catch (error) {
    $("#create-error").textContent = error.message;
    return;
  }
  fillModels();
  $("#seed").value = randomSeed();
  if (state.me.client) {
    const active = await api("/api/me/videos?status=active&limit=50");
    active.data.forEach((video) => watch(video));
  }
  route();
}
start();
