// The video page (/v/ID): the player, the facts and provenance of a clip, and what one can do with it.

import { $, api } from "./common.js";
import { prefill } from "./create.js";
import { showDirecting } from "./directing.js";
import { setFavourite } from "./lists.js";
import { moderationNote, offerReport } from "./moderation.js";
import { go } from "./nav.js";
import { describe, promptText, watch } from "./queue.js";
import { isModerator } from "./session.js";
import { modelsKnown, state } from "./state.js";

let shown = 0;  // which showVideo call is current: an older one (another video, a left page) draws nothing

export async function showVideo(id) {
  const call = ++shown;
  const player = $("#player");
  let video;
  try {
    video = await api(`/api/videos/${encodeURIComponent(id)}`);
  } catch (error) {
    if (call !== shown) return;
    $("#video-title").textContent = "Video not found";
    $("#video-state").textContent = error.message;
    $("#video-facts").replaceChildren();
    player.removeAttribute("src");
    return;
  }
  if (call !== shown) return;
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
  showFacts(video, playable, done);
  if (playable) showProvenance(video.id);
  for (const [selector, url] of [["#download-mp4", video.links.video], ["#download-gif", video.links.gif]]) {
    const link = $(selector);
    link.hidden = !url || !playable;
    if (url) link.href = url;
  }
  offerActions(video);
  modelsKnown.then(() => call === shown && showDirecting(video, state.models.find((m) => m.id === video.model),
    state.me, (made) => {
      go("/");
      made.data.forEach((v) => watch(v, true));
    }));
  if (!done && !["failed", "cancelled"].includes(video.status)) setTimeout(() => {
    if (call === shown && location.pathname === `/v/${id}`) showVideo(id);
  }, 1000);
}

/** Leaving the page: a video still on its way is not drawn, and it is no longer polled. */
export function stopVideo() {
  shown += 1;
}

function showFacts(video, playable, done) {
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
}

function offerActions(video) {
  $("#copy-link").onclick = async () => {
    const url = new URL(video.links.share, location.origin).href;
    try { await navigator.clipboard.writeText(url); $("#copy-state").textContent = `Copied ${url}`; }
    catch { $("#copy-state").textContent = url; }
  };
  $("#remix").onclick = async () => {
    await modelsKnown;  // a shared link opens the video page before the form has its models
    go("/");
    prefill(video);
    $("#prompt").focus();
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
