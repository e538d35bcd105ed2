// The queue panel: the caller's videos as they are made, followed live by Server-Sent Events.

import { $, api } from "./common.js";
import { t } from "./i18n.js";

const watching = new Map();  // video id -> its EventSource

/** A prompt the artist keeps private comes without its text (and seed) to everyone else. */
export function promptText(video) {
  return video.prompt ?? t("video.private_prompt");
}

/** Where a video is: its place in the queue, its progress, or how it ended. */
export function describe(video) {
  if (video.status === "queued") {
    const place = video.queue_position === 0 ? t("queue.next") : t("queue.ahead", { count: video.queue_position });
    if (video.waiting_for_worker) return t("queue.waiting_for_worker", { place, model: video.model || t("queue.this_model") });
    return video.eta_seconds != null ? t("queue.queued_eta", { place, seconds: Math.ceil(video.eta_seconds) })
      : t("queue.queued", { place });
  }
  if (video.status === "in_progress") {
    return video.eta_seconds != null ? t("queue.making_eta", { progress: video.progress, seconds: Math.ceil(video.eta_seconds) })
      : t("queue.making", { progress: video.progress });
  }
  return ["completed", "failed", "cancelled", "deleted"].includes(video.status) ? t(`status.${video.status}`) : video.status;
}

/** Show a video in the queue panel (once: a second call for it does nothing) and follow it. */
export function watch(video, fresh = false) {
  if (watching.has(video.id)) return;
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
    if (finished) { source.close(); watching.delete(video.id); }
  };
  const source = new EventSource(`/api/videos/${video.id}/events`);
  source.addEventListener("progress", update);
  source.addEventListener("done", update);
  watching.set(video.id, source);
}

/** The caller's videos still waiting or being made, in the panel (as when the page opens). */
export async function watchActive() {
  const active = await api("/api/me/videos?status=active&limit=50");
  active.data.forEach((video) => watch(video));
}
