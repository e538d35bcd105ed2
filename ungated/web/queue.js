// The queue panel: the caller's videos as they are made. Each is an item (from #job-template),
// kept up to date by what the server says of it: a Server-Sent Events stream for those being made
// (and a few waiting), and the polls of one's own queue (ownqueue.js) for the rest. A browser opens
// only six connections to a server at once, so the streams are few: a batch of fifty would
// otherwise leave no connection for anything else. A batch shows as one group (groups.js).

import { $, api } from "./common.js";
import { duration, t } from "./i18n.js";
import { failure } from "./phrases.js";

const MAX_STREAMS = 3;  // open EventSources: the rest of the six connections stay free for the studio
export const FINISHED = ["completed", "failed", "cancelled", "deleted"];
export const ACTIVE = ["queued", "in_progress"];

/** The panel's items by video id. */
export const items = new Map();
const streams = new Map();  // video id -> its EventSource

/** Dispatched on document when the panel gained a video, or one of its videos started or ended. */
export const QUEUE_CHANGED = "queue-changed";
export const changed = () => document.dispatchEvent(new Event(QUEUE_CHANGED));
/** Dispatched (bubbling) on an item each time it shows a new state. */
export const JOB_UPDATED = "job-updated";

/** Where a batch's videos go: set by groups.js (a batch id and its size -> the group's list). */
export const grouping = { into: null };

/** A prompt the artist keeps private comes without its text (and seed) to everyone else. */
export function promptText(video) {
  return video.prompt ?? t("video.private_prompt");
}

/** Where a video is: its place in the queue, its progress, or how it ended. */
export function describe(video) {
  if (video.status === "queued") {
    if (video.paused) return t("queue.paused_item");
    if (video.queue_position == null) return t("status.queued");  // not placed: its owner's queue is paused
    const place = video.queue_position === 0 ? t("queue.next") : t("queue.ahead", { count: video.queue_position });
    if (video.waiting_for_worker) return t("queue.waiting_for_worker", { place, model: video.model || t("queue.this_model") });
    return video.eta_seconds != null ? t("queue.queued_eta", { place, duration: duration(video.eta_seconds) })
      : t("queue.queued", { place });
  }
  if (video.status === "in_progress") {
    return video.eta_seconds != null ? t("queue.making_eta", { progress: video.progress, duration: duration(video.eta_seconds) })
      : t("queue.making", { progress: video.progress });
  }
  return FINISHED.includes(video.status) ? t(`status.${video.status}`) : video.status;
}

/** Show what the server says of a video (a stream's event, or the video as the API gives it). */
export function show(item, data) {
  const before = item.dataset.status;
  const status = data.status ?? before;
  $(".job-state", item).textContent = describe({ model: item.dataset.model, ...data, status });
  $("progress", item).value = status === "completed" ? 100 : data.progress ?? 0;
  item.dataset.status = status;
  item.dataset.progress = status === "completed" ? 100 : data.progress ?? 0;
  const preview = data.preview ?? data.links?.preview;
  if (preview && status !== "completed") Object.assign($(".preview", item), { src: preview, hidden: false });
  const finished = FINISHED.includes(status);
  $(".job-cancel", item).hidden = finished;
  $(".job-retry", item).hidden = !(status === "failed" || status === "cancelled");
  $(".job-error", item).replaceChildren(failure(typeof data.error === "object" ? data.error : { message: data.error }));
  if (status === "completed") {
    Object.assign($(".preview", item), { src: `/v1/videos/${item.dataset.id}/content?variant=thumbnail`, hidden: false });
    Object.assign($(".job-open", item), { href: `/v/${item.dataset.id}`, hidden: false });
  }
  if (status !== "queued") {
    delete item.dataset.place;
    delete item.dataset.leaving;
    item.draggable = false;
    $(".job-place", item).hidden = $(".job-move", item).hidden = true;
  }
  if (finished) stopStream(item.dataset.id);
  item.dispatchEvent(new Event(JOB_UPDATED, { bubbles: true }));
  if (before !== status) changed();
}

function startStream(id) {
  if (streams.has(id) || streams.size >= MAX_STREAMS) return;
  const item = items.get(id);
  if (!item || !ACTIVE.includes(item.dataset.status)) return;
  const source = new EventSource(`/api/videos/${id}/events`);
  const update = (event) => show(item, JSON.parse(event.data));
  source.addEventListener("progress", update);
  source.addEventListener("done", (event) => { update(event); stopStream(id); });
  streams.set(id, source);
}

function stopStream(id) {
  streams.get(id)?.close();
  if (streams.delete(id)) follow();
}

/** Stream the first of the panel's unfinished videos (those being made, then those next), and let
 * go of the streams of others: the polls follow them. `order`: their ids, most wanted first. */
export function follow(order = null) {
  const wanted = (order ?? [...items.keys()]).filter((id) => ACTIVE.includes(items.get(id)?.dataset.status));
  wanted.sort((a, b) => (items.get(b).dataset.status === "in_progress") - (items.get(a).dataset.status === "in_progress"));
  const first = new Set(wanted.slice(0, MAX_STREAMS));
  for (const id of [...streams.keys()]) {
    if (!first.has(id)) { streams.get(id).close(); streams.delete(id); }
  }
  for (const id of first) startStream(id);
}

/** Show a video in the queue panel (once: a second call for it does nothing) and follow it.
 * fresh: at the top (just made); into: a list of its own (a batch's group). */
export function watch(video, fresh = false, into = null) {
  if (items.has(video.id)) return items.get(video.id);
  const item = $("#job-template").content.firstElementChild.cloneNode(true);
  item.dataset.id = video.id;
  item.dataset.model = video.model || "";
  item.dataset.status = video.status;
  item.dataset.created = video.created_at ?? 0;
  item.dataset.variant = video.variant ?? 0;
  const prompt = $(".job-prompt", item);
  prompt.textContent = promptText(video);
  prompt.translate = video.prompt == null;  // the artist's words as they wrote them
  $(".job-cancel", item).addEventListener("click", async () => {
    try {
      show(item, await api(`/api/videos/${video.id}/cancel`, { method: "POST" }));
      changed();
    } catch (error) { $(".job-error", item).textContent = error.message; }
  });
  $(".job-retry", item).addEventListener("click", async () => {
    try {
      const made = await api(`/api/videos/${video.id}/retry`, { method: "POST" });
      made.data.forEach((v) => watch(v, true));
    } catch (error) { $(".job-error", item).textContent = error.message; }
  });
  const list = into || $("#queue");
  fresh ? list.prepend(item) : list.append(item);
  $("#queue-empty").hidden = true;
  items.set(video.id, item);
  show(item, video);
  startStream(video.id);
  changed();
  return item;
}

/** The caller's videos still waiting or being made, in the panel (as when the page opens); a
 * batch among them as its group, with its videos that already ended. */
export async function watchActive() {
  const active = await api("/api/me/videos?status=active&limit=50");
  const sizes = new Map();
  for (const video of active.data) sizes.set(video.batch_id, (sizes.get(video.batch_id) || 0) + 1);
  const groups = new Map();
  for (const [batchId, count] of sizes) {
    if (count < 2 || !grouping.into) continue;
    try {
      const batch = await api(`/api/batches/${encodeURIComponent(batchId)}`);
      const into = grouping.into(batchId, batch.total, false);
      batch.data.forEach((video) => watch(video, false, into));
      groups.set(batchId, into);
    } catch { /* shown one by one below */ }
  }
  active.data.forEach((video) => watch(video));
  changed();
}
