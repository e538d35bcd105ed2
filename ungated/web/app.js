// The ungated web studio: plain modules on the studio API (/api), no build step, nothing fetched
// from elsewhere. Every user-supplied string is set as text (textContent), never as HTML.

import { $, api, loadSession } from "./common.js";
import { showAccount } from "./account.js";
import { showAdmin, stopAdmin } from "./admin.js";
import { showDirecting } from "./directing.js";
import { moderationNote, offerReport, showModeration } from "./moderation.js";
import { isModerator, openSignIn, roleOf, showHeader } from "./session.js";
import { showBoards, stopBoards } from "./storyboard.js";
import { showWorkers, stopWorkers } from "./workers.js";

const ASPECTS = { "16:9": [16, 9], "9:16": [9, 16], "1:1": [1, 1] };
const RESOLUTIONS = [360, 480, 720, 1080];
const state = { models: [], loras: [], me: null, watching: new Map(), list: null, runs: new Map() };

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
    [state.me] = await Promise.all([api("/api/me"), loadSession()]);
    if (state.me.client) state.me = await api("/api/me", { method: "PUT", json: { artist: $("#artist").value } });
    showHeader(state.me);
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
  const boardId = path.startsWith("/boards/") ? decodeURIComponent(path.slice(8)) : null;
  const view = videoId ? "video" : boardId ? "boards"
    : { "/feed": "feed", "/me": "mine", "/favourites": "favourites", "/train": "train", "/workers": "workers", "/boards": "boards",
      "/account": "account", "/moderation": "moderation", "/admin": "admin" }[path]
    || "create";
  for (const link of document.querySelectorAll("nav a")) {
    link.toggleAttribute("aria-current", link.dataset.view === view);
    if (link.dataset.view === view) link.setAttribute("aria-current", "page");
  }
  $("#view-create").hidden = view !== "create";
  $("#view-list").hidden = !LISTS[view];
  $("#view-video").hidden = view !== "video";
  $("#view-train").hidden = view !== "train";
  $("#view-workers").hidden = view !== "workers";
  $("#view-boards").hidden = view !== "boards";
  for (const name of ["account", "moderation", "admin"]) $(`#view-${name}`).hidden = view !== name;
  if (view !== "video") $("#player").pause();
  if (view !== "workers") stopWorkers();
  if (view !== "admin") stopAdmin();
  if (view !== "boards") stopBoards();
  if (LISTS[view]) showList(view);
  if (videoId) showVideo(videoId);
  if (view === "train" && state.me) showTrain();
  if (view === "workers" && state.me) showWorkers(state.me, state.models);
  if (view === "boards" && state.me) showBoards(boardId, { me: state.me, models: state.models, go });
  if (view === "account" && state.me) showAccount(state.me, state.models);
  if (view === "moderation" && state.me) showModeration(roleOf(state.me) === "admin");
  if (view === "admin" && state.me) showAdmin(roleOf(state.me) === "admin");
  const titles = { train: "Train", workers: "GPU workers", boards: "Storyboard", account: "Account", moderation: "Moderation",
    admin: "Admin" };
  document.title = videoId ? "Video · ungated" : `${LISTS[view]?.title || titles[view] || "Create"} · ungated`;
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

// A model as a choice, with why it cannot be picked here (no weights, no worker serving it).
function modelOption(m, label) {
  const option = new Option(label + (m.weights_present ? "" : " (weights not downloaded)") +
    (m.served ? "" : " (not served here)"), m.id);
  option.disabled = !m.served || !m.weights_present;
  return option;
}

function fillModels() {
  const select = $("#model");
  const chosen = select.value;  // kept when the list is refreshed (a model trained meanwhile)
  select.replaceChildren();
  for (const m of state.models) select.add(modelOption(m, m.title));
  const previous = state.models.find((m) => m.id === chosen && m.served && m.weights_present);
  const first = previous || state.models.find((m) => m.served && m.weights_present);
  if (first) select.value = first.id;
  fitControls();
}

function fitControls() {
  const m = model();
  if (!m) return;
  const caps = m.capabilities;
  const sizes = nativeSizes(caps);
  const aspects = caps.any_aspect ? Object.keys(ASPECTS)
    : caps.any_output_size ? Object.keys(ASPECTS).filter((a) => sizes.some((s) => aspectOf(s) === a))
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
  if (caps.seconds_range) {
    const [lo, hi] = caps.seconds_range;
    Object.assign(seconds, { min: lo, max: hi, step: 0.5 });
    seconds.disabled = lo === hi;
  } else {
    const step = caps.frames.step / Math.max(...caps.fps);
    Object.assign(seconds, { min: caps.frames.min / Math.max(...caps.fps), max: caps.max_seconds, step });
    seconds.disabled = caps.frames.min === caps.frames.max;
  }
  seconds.value = caps.default_seconds;
  showSeconds();
  $("#loop-field").hidden = !caps.loop;
  Object.assign($("#steps"), { max: caps.max_steps, placeholder: caps.default_steps });
  $("#guidance").placeholder = caps.default_guidance;
  $("#image-field").hidden = !caps.image_input;
  $("#character-hint").hidden = !caps.verbs?.characters;
  fillLoras();
  $("#model-info").textContent = [
    caps.any_aspect ? "any size" : `native ${caps.sizes.join(", ")}`, `${runs(caps.fps)} fps`,
    caps.seconds_range ? `${caps.seconds_range.join("-")} s` : `up to ${caps.max_seconds.toFixed(1)} s`,
    caps.image_input ? (caps.image_required ? "needs an image" : "takes an image") : "text only",
    caps.any_output_size && !caps.any_aspect ? "drawn at the size you choose" : "",
    caps.loop ? "loops" : "",
    directs(caps.verbs),
    `licence ${m.licence}`,
  ].filter(Boolean).join(" · ");
  planSoon();
}

// The directing tools it offers besides loops (a video's page and the storyboard show them).
function directs(verbs = {}) {
  const offered = ["extend", "re-cut", "edit", "blend", "characters"].filter((name) => verbs[name.replace("-", "")]);
  return offered.length ? `directs: ${offered.join(", ")}` : "";
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
  if (caps.any_output_size || caps.any_aspect) {
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
  if (caps.any_output_size || caps.any_aspect) {
    Object.assign(fields, { aspect: form.aspect.value, resolution: $("#resolution").value });
  } else fields.size = $("#resolution").value;
  if (!$("#seconds").disabled) fields.seconds = Number($("#seconds").value);
  if (!$("#loop-field").hidden && $("#loop").checked) fields.loop = true;
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

// A prompt the artist keeps private comes without its text (and seed) to everyone else.
function promptText(video) {
  return video.prompt ?? "(the artist keeps this prompt private)";
}

function prefill(video) {
  const request = video.request;
  $("#prompt").value = video.prompt ?? "";
  if (state.models.some((m) => m.id === video.model)) $("#model").value = video.model;
  fitControls();
  if (request.aspect) {
    const radio = [...document.querySelectorAll('input[name="aspect"]')].find((r) => r.value === request.aspect);
    if (radio) { radio.checked = true; fillResolutions(); }
  }
  if (request.resolution || request.size) $("#resolution").value = request.resolution || request.size;
  if (request.seconds) { $("#seconds").value = request.seconds; showSeconds(); }
  $("#loop").checked = Boolean(request.loop);
  $("#seed").value = video.seed ?? "";
  $("#seed-lock").checked = video.seed != null;
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
    if (video.waiting_for_worker) return `Queued (${place}) · no worker is serving ${video.model || "this model"} right now; it starts when one joins`;
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
  $(".job-prompt", item).textContent = promptText(video);
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
    $(".job-state", item).textContent = describe({ model: video.model, ...data });
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
  link.setAttribute("aria-label", `Open video: ${promptText(video)}`);
  const removed = video.moderation?.state === "removed" && !isModerator(state.me);  // its files are gone for its artist too
  $(".thumb", item).src = (!removed && video.links.thumbnail) || "/static/icon.svg";
  $(".card-prompt", item).textContent = promptText(video);
  $(".card-meta", item).textContent = [video.model, video.artist && `by ${video.artist}`,
    video.status !== "completed" && video.status, video.moderation?.state && `${video.moderation.state} by a moderator`]
    .filter(Boolean).join(" · ");
  if (moderationNote(video)) item.title = moderationNote(video);
  const clip = $(".hover", item);
  const play = (on) => {
    if (!video.links.video || removed) return;
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
  $("#video-title").textContent = promptText(video);
  $("#video-moderation").textContent = moderationNote(video);
  $("#video-moderation").hidden = !video.moderation?.state;
  offerReport(video);
  const done = video.status === "completed";
  // A removed clip's files are gone for everyone but moderators, its artist included.
  const playable = done && !(video.moderation?.state === "removed" && !isModerator(state.me));
  $("#video-state").textContent = done ? "" : describe(video);
  if (playable && player.dataset.id !== video.id) {
    player.src = video.links.video;
    player.poster = video.links.thumbnail;
    player.dataset.id = video.id;
  }
  if (!playable) { player.removeAttribute("src"); delete player.dataset.id; }
  player.hidden = !playable;
  const facts = [
    ["Model", video.model], ["Seed", video.seed], ["Size", video.size], ["Length", `${video.seconds.toFixed(1)} s`],
    ["Created", new Date(video.created_at * 1000).toLocaleString()], ["Artist", video.artist || "not credited"],
    ["Provenance", playable ? "checking…" : done ? "not shown: the clip was removed" : "made when the clip is done"],
    ["Listed in feed", video.public ? "yes" : "no (open by link)"],
  ];
  if (video.request.loop) facts.push(["Loop", "yes: the last frame flows into the first"]);
  if (video.remixed_from) facts.push(["Remix of", video.remixed_from]);
  $("#video-facts").replaceChildren(...facts.flatMap(([name, value]) => {
    const dt = document.createElement("dt");
    const dd = document.createElement("dd");
    dt.textContent = name;
    dd.textContent = String(value);
    return [dt, dd];
  }));
  if (playable) showProvenance(video.id);
  for (const [selector, url] of [["#download-mp4", video.links.video], ["#download-gif", video.links.gif]]) {
    const link = $(selector);
    link.hidden = !url || !playable;
    if (url) link.href = url;
  }
  $("#copy-link").onclick = async () => {
    const url = new URL(video.links.share, location.origin).href;
    try { await navigator.clipboard.writeText(url); $("#copy-state").textContent = `Copied ${url}`; }
    catch { $("#copy-state").textContent = url; }
  };
  $("#remix").onclick = async () => {
    await modelsLoaded;  // a shared link opens the video page before the form has its models
    go("/");
    prefill(video);
    $("#prompt").focus();
  };
  showDirecting(video, state.models.find((m) => m.id === video.model), state.me, (made) => {
    go("/");
    made.data.forEach((v) => watch(v, true));
  });
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

// ---- training: datasets and runs ---------------------------------------------------------------

const NEW_DATASET = "";
const DATASET_FILE = /\.(mp4|mov|webm|mkv|m4v|gif|png|jpe?g|webp|txt)$|^metadata\.(jsonl|csv)$/i;

async function showTrain() {
  if (!state.me.client) {
    $("#train-error").textContent = "This server is public: sign in (or add an API key in Settings, ⚙) to train.";
    return;
  }
  fillTrainModels();
  try {
    await fillDatasets($("#train-dataset").value || undefined);
    await listRuns();
  } catch (error) {
    $("#train-error").textContent = error.message;
  }
}

function fillTrainModels() {
  const select = $("#train-model");
  const previous = select.value;
  select.replaceChildren(...state.models.filter((m) => m.trainable).map((m) => modelOption(m,
    m.id === "builtin" ? "Built-in model (trains on this computer, no GPU needed)" : `LoRA for ${m.title}`)));
  if (previous) select.value = previous;
  fitTrainControls();
}

function fitTrainControls() {
  const m = state.models.find((x) => x.id === $("#train-model").value);
  const defaults = m?.training_defaults || {};
  for (const el of document.querySelectorAll(".lora-only")) el.hidden = m?.id === "builtin";
  for (const el of document.querySelectorAll(".builtin-only")) el.hidden = m?.id !== "builtin";
  const trainedModels = state.models.filter((x) => x.id.startsWith("builtin/"));
  $("#train-init").replaceChildren(new Option("Nothing: train from scratch", ""),
    ...trainedModels.map((x) => new Option(`${x.title}: fine-tune it`, x.id)));
  for (const [id, name] of [["#train-steps", "steps"], ["#train-sample-every", "sample_every"], ["#train-lr", "learning_rate"],
    ["#train-batch", "batch"], ["#train-rank", "rank"], ["#train-resolution", "resolution"]]) {
    $(id).placeholder = defaults[name] ?? "";
  }
}

async function fillDatasets(chosen) {
  const { data } = await api("/api/datasets");
  const select = $("#train-dataset");
  select.replaceChildren(...data.map((d) => new Option(`${d.name} (${d.files} files)`, d.name)),
    new Option("New dataset: upload a folder…", NEW_DATASET));
  select.value = data.some((d) => d.name === chosen) ? chosen : data[0]?.name ?? NEW_DATASET;
  datasetChanged();
}

function datasetChanged() {
  const fresh = $("#train-dataset").value === NEW_DATASET;
  $("#dataset-upload").hidden = !fresh;
  $("#dataset-delete").hidden = fresh;
  $("#data-path-field").hidden = !(fresh && state.me?.admin);
  $("#dataset-report").textContent = "";
  $("#dataset-problems").replaceChildren();
  if (!fresh) checkDataset($("#train-dataset").value);
}

async function checkDataset(name) {
  $("#dataset-report").textContent = "Checking the clips…";
  try {
    const report = await api(`/api/datasets/${encodeURIComponent(name)}`);
    if ($("#train-dataset").value !== name) return;
    const s = report.summary;
    $("#dataset-report").textContent = [`${s.clips} clip${s.clips === 1 ? "" : "s"}`,
      s.seconds_total ? `${s.seconds_total} s in all` : "", Object.keys(s.sizes).join(", "),
      s.problems ? `${s.problems} problem${s.problems === 1 ? "" : "s"} (those files are skipped)` : "no problems",
    ].filter(Boolean).join(" · ");
    $("#dataset-problems").replaceChildren(...report.problems.map((problem) => {
      const li = document.createElement("li");
      li.textContent = `${problem.path}: ${problem.what}`;
      return li;
    }));
    if (!$("#train-name").value) $("#train-name").value = name;
  } catch (error) {
    $("#dataset-report").textContent = error.message;
  }
}

// A chosen folder goes up file by file (no archive to build in the browser), into a dataset named after it.
async function uploadFolder(files) {
  const wanted = files.filter((f) => {
    const parts = f.webkitRelativePath.split("/").slice(1);
    return parts.length >= 1 && parts.length <= 2 && !parts.some((p) => p.startsWith(".")) && DATASET_FILE.test(parts.at(-1));
  });
  if (!wanted.length) {
    $("#upload-state").textContent = "That folder has no clips or captions (mp4, mov, webm, gif, images, .txt, metadata.jsonl).";
    return;
  }
  const folder = wanted[0].webkitRelativePath.split("/")[0];
  const name = folder.replace(/[^A-Za-z0-9_.-]+/g, "-").replace(/^[^A-Za-z0-9]+/, "").slice(0, 100) || "clips";
  const bar = $("#upload-progress");
  Object.assign(bar, { max: wanted.length, value: 0, hidden: false });
  try {
    for (const [index, file] of wanted.entries()) {
      $("#upload-state").textContent = `Uploading ${index + 1} of ${wanted.length}: ${file.name}`;
      const inside = file.webkitRelativePath.split("/").slice(1).map(encodeURIComponent).join("/");
      await api(`/api/datasets/${encodeURIComponent(name)}/files/${inside}`, { method: "PUT", file });
      bar.value = index + 1;
    }
    const skipped = files.length - wanted.length;
    $("#upload-state").textContent = `Uploaded ${wanted.length} files to dataset ${name}` +
      (skipped ? ` (${skipped} other files left out)` : "") + ".";
    await fillDatasets(name);
  } catch (error) {
    $("#upload-state").textContent = error.message;
  } finally {
    bar.hidden = true;
  }
}

$("#train-model").addEventListener("change", fitTrainControls);
$("#train-dataset").addEventListener("change", datasetChanged);
$("#dataset-delete").addEventListener("click", async () => {
  const name = $("#train-dataset").value;
  if (!confirm(`Delete dataset ${name} and its files from this server? (Runs made from it keep what they made.)`)) return;
  try {
    await api(`/api/datasets/${encodeURIComponent(name)}`, { method: "DELETE" });
    await fillDatasets();
  } catch (error) {
    $("#train-error").textContent = error.message;
  }
});
$("#dataset-files").addEventListener("change", (event) => uploadFolder([...event.target.files]));

$("#train").addEventListener("submit", async (event) => {
  event.preventDefault();
  const body = { model: $("#train-model").value, name: $("#train-name").value.trim() };
  const dataset = $("#train-dataset").value;
  if (dataset !== NEW_DATASET) body.dataset = dataset;
  else if ($("#data-path").value.trim()) body.data_path = $("#data-path").value.trim();
  const numbers = { steps: "#train-steps", sample_every: "#train-sample-every", learning_rate: "#train-lr",
    batch: "#train-batch", rank: "#train-rank", resolution: "#train-resolution" };
  for (const [name, id] of Object.entries(numbers)) {
    if ($(id).value !== "" && !$(id).closest("[hidden]")) body[name] = Number($(id).value);
  }
  if ($("#train-prompt").value.trim()) body.sample_prompt = $("#train-prompt").value.trim();
  if ($("#train-init").value && !$("#init-field").hidden) body.init = $("#train-init").value;
  const button = $("#train-submit");
  button.disabled = true;
  try {
    const run = await api("/api/trainings", { method: "POST", json: body });
    $("#train-error").textContent = "";
    showRun(run, true);
  } catch (error) {
    $("#train-error").textContent = error.message;
  } finally {
    button.disabled = false;
  }
});

async function listRuns() {
  const { data } = await api("/api/trainings");
  for (const source of state.runs.values()) source.close();
  state.runs.clear();
  $("#runs").replaceChildren();
  data.forEach((run) => showRun(run));
  $("#runs-empty").hidden = data.length > 0;
}

function describeRun(run) {
  const loss = run.losses.at(-1)?.[1];
  const lossText = loss != null ? ` · loss ${loss.toFixed(4)}` : "";
  if (run.status === "queued") return "Queued: it starts when a worker is free";
  if (run.status === "in_progress") {
    if (run.stage === "preparing") return "Preparing: reading and caching the clips";
    if (run.stage === "finishing") return `Finishing: writing the result, its sample and loss curve${lossText}`;
    const eta = run.eta_seconds != null ? ` · about ${Math.ceil(run.eta_seconds / 60)} min left` : "";
    return `Training · step ${run.step} of ${run.steps}${lossText}${eta}`;
  }
  if (run.status === "completed") return `Done · ${run.steps} steps${lossText}`;
  if (run.status === "cancelled") return `Cancelled at step ${run.step}: resume continues from its checkpoint`;
  return { failed: "Failed", deleted: "Deleted" }[run.status] || run.status;
}

function drawLoss(svg, losses) {
  svg.toggleAttribute("hidden", losses.length < 2);  // an SVG element has no .hidden property
  if (losses.length < 2) return;
  const values = losses.map(([, loss]) => loss);
  const low = Math.min(...values), high = Math.max(...values);
  const first = losses[0][0], last = losses.at(-1)[0];
  const points = losses.map(([step, loss]) =>
    `${((step - first) / Math.max(1, last - first) * 300).toFixed(1)},${(76 - (loss - low) / Math.max(1e-9, high - low) * 72).toFixed(1)}`);
  $("polyline", svg).setAttribute("points", points.join(" "));
  svg.setAttribute("aria-label", `Loss curve: from ${values[0].toFixed(4)} at step ${first} to ${values.at(-1).toFixed(4)} at step ${last}`);
}

function renderRun(item, run) {
  item.dataset.status = run.status;
  $(".run-state", item).textContent = describeRun(run);
  $("progress", item).value = run.progress;
  drawLoss($(".loss", item), run.losses);
  const sample = run.outputs?.find((o) => o.name.endsWith("sample.mp4"))?.url || run.samples.at(-1)?.url;
  const video = $(".sample", item);
  if (sample && video.getAttribute("src") !== sample) Object.assign(video, { src: sample, hidden: false });
  const finished = ["completed", "failed", "cancelled", "deleted"].includes(run.status);
  $(".run-error", item).textContent = run.status === "failed" ? run.error?.message || "" : "";
  $(".run-cancel", item).hidden = finished;
  $(".run-resume", item).hidden = !["failed", "cancelled"].includes(run.status);
  $(".run-delete", item).hidden = !finished || run.status === "deleted";
  const use = $(".run-use", item);
  use.hidden = !(run.lora || run.model_id);
  use.onclick = () => (run.lora ? useLora(run) : useModel(run.model_id));
  $(".outputs", item).replaceChildren(...(run.outputs || []).map((output) => {
    const li = document.createElement("li");
    const link = Object.assign(document.createElement("a"), { href: output.url, textContent: output.name });
    link.download = output.name.split("/").at(-1);
    li.append(link, ` (${fileSize(output.size_bytes)})`);
    return li;
  }), ...(run.model_path ? [Object.assign(document.createElement("li"), {
    className: "hint", textContent: `From the command line: ungated generate --model-path ${run.model_path} "your prompt"` })] : []));
}

function fileSize(bytes) {
  return bytes < 2 ** 20 ? `${Math.max(1, Math.round(bytes / 1024))} KB` : `${(bytes / 2 ** 20).toFixed(1)} MB`;
}

function showRun(run, fresh = false) {
  let item = $(`#runs li[data-id="${run.id}"]`);
  if (!item) {
    item = $("#run-template").content.firstElementChild.cloneNode(true);
    item.dataset.id = run.id;
    const title = state.models.find((m) => m.id === run.model)?.title || run.model;
    $(".run-name", item).textContent = `${run.name} · ${run.model === "builtin" ? "built-in model" : `LoRA for ${title}`} · on ${run.dataset}`;
    $(".run-cancel", item).addEventListener("click", () => act(item, run.id, "cancel"));
    $(".run-resume", item).addEventListener("click", () => act(item, run.id, "resume"));
    $(".run-delete", item).addEventListener("click", async () => {
      if (!confirm("Delete this training run and its files? (A LoRA it made stays in the library.)")) return;
      await api(`/api/trainings/${run.id}`, { method: "DELETE" });
      item.remove();
    });
    fresh ? $("#runs").prepend(item) : $("#runs").append(item);
    $("#runs-empty").hidden = true;
  }
  renderRun(item, run);
  if (!["completed", "failed", "cancelled"].includes(run.status)) followRun(item, run);
}

async function act(item, id, action) {
  try {
    showRun(await api(`/api/trainings/${id}/${action}`, { method: "POST" }));
  } catch (error) {
    $(".run-error", item).textContent = error.message;
  }
}

function followRun(item, run) {
  if (state.runs.has(run.id)) return;
  const source = new EventSource(`/api/trainings/${run.id}/events`);
  const update = async (event) => {
    renderRun(item, { ...run, ...JSON.parse(event.data) });
    if (event.type !== "done") return;
    source.close();
    state.runs.delete(run.id);
    try {
      const finished = await api(`/api/trainings/${run.id}`);
      renderRun(item, finished);
      if (finished.model_id) await refreshModels();  // offer the new model in both forms
    } catch { /* deleted meanwhile */ }
  };
  source.addEventListener("progress", update);
  source.addEventListener("done", update);
  source.addEventListener("error", () => {
    // Closed for good (not reconnecting): refused, as for a studio that uses an API key, which an
    // EventSource cannot send. Follow the run by polling with the key instead.
    if (source.readyState === EventSource.CLOSED) state.runs.set(run.id, pollRun(item, run.id));
  });
  state.runs.set(run.id, source);
}

function pollRun(item, id) {
  let timer;
  const poll = async () => {
    try {
      const run = await api(`/api/trainings/${id}`);
      renderRun(item, run);
      if (["completed", "failed", "cancelled"].includes(run.status)) {
        state.runs.delete(id);
        if (run.model_id) await refreshModels();
        return;
      }
    } catch { state.runs.delete(id); return; }  // deleted meanwhile
    timer = setTimeout(poll, 3000);
  };
  poll();
  return { close: () => clearTimeout(timer) };
}

async function refreshModels() {
  ({ data: state.models } = await api("/api/models"));
  fillModels();
  fillTrainModels();
}

async function useModel(modelId) {
  await refreshModels();
  go("/");
  $("#model").value = modelId;
  fitControls();
  $("#prompt").focus();
}

async function useLora(run) {
  ({ data: state.loras } = await api("/api/loras"));
  go("/");
  if (state.models.some((m) => m.id === run.model && m.served)) $("#model").value = run.model;
  fitControls();
  fillLoras(new Map([[run.lora, 1]]));
  $("#prompt").focus();
}

// ---- start -------------------------------------------------------------------------------------

let markModelsLoaded;
const modelsLoaded = new Promise((resolve) => { markModelsLoaded = resolve; });

async function start() {
  route();
  try {
    [state.me, { data: state.models }, { data: state.loras }] = await Promise.all(
      [api("/api/me"), api("/api/models"), api("/api/loras"), loadSession()]);
  } catch (error) {
    $("#create-error").textContent = error.message;
    return;
  }
  showHeader(state.me);
  if (location.pathname.startsWith("/join/")) openSignIn("signup", decodeURIComponent(location.pathname.slice(6)));
  fillModels();
  $("#nav-workers").hidden = !state.me.admin;
  markModelsLoaded();
  $("#seed").value = randomSeed();
  if (state.me.client) {
    const active = await api("/api/me/videos?status=active&limit=50");
    active.data.forEach((video) => watch(video));
  }
  route();
}
start();
