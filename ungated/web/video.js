// The video page (/v/ID): the player, the facts and provenance of a clip, and what one can do with it.

import { $, api } from "./common.js";
import { prefill } from "./create.js";
import { showDirecting } from "./directing.js";
import { moment, seconds, t } from "./i18n.js";
import { setFavourite } from "./lists.js";
import { offerReport, showModerationNote } from "./moderation.js";
import { go } from "./nav.js";
import { describe, promptText, watch } from "./queue.js";
import { joined, kept, phrase } from "./phrases.js";
import { isModerator } from "./session.js";
import { modelsKnown, state } from "./state.js";

let shown = 0;  // which showVideo call is current: an older one (another video, a left page) draws nothing
let drawn = null;  // the video the page shows, whose actions are offered

export async function showVideo(id) {
  const call = ++shown;
  const player = $("#player");
  if (drawn !== id) forget();
  let video;
  try {
    video = await api(`/api/videos/${encodeURIComponent(id)}`);
  } catch (error) {
    if (call !== shown) return;
    $("#video-title").textContent = t("video.not_found");
    $("#video-title").translate = true;
    $("#video-state").textContent = error.message;
    $("#video-facts").replaceChildren();
    player.removeAttribute("src");
    return;
  }
  if (call !== shown) return;
  $("#video-title").textContent = promptText(video);
  $("#video-title").translate = video.prompt == null;  // a prompt is the artist's words
  showModerationNote($("#video-moderation"), video);
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
  $("#video-actions").hidden = false;
  drawn = video.id;
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
  forget();
}

// Until a video is drawn its page shows nothing of another: no title, and no buttons, which would
// act on the other video (or on none, before the page's first answer).
function forget() {
  drawn = null;
  $("#video-actions").hidden = true;
  for (const id of ["#direct", "#player", "#video-moderation"]) $(id).hidden = true;
  for (const id of ["#video-title", "#video-state", "#copy-state", "#report-state"]) $(id).textContent = "";
  $("#video-facts").replaceChildren();
}

// Each fact: its name, its value, and whether the value is someone's words or an id (kept as written).
function showFacts(video, playable, done) {
  const facts = [
    [t("video.fact_model"), video.model, true], [t("video.fact_seed"), video.seed, true],
    [t("video.fact_size"), video.size, true], [t("video.fact_length"), seconds(video.seconds)],
    [t("video.fact_created"), moment(video.created_at)],
    [t("video.fact_artist"), video.artist || t("video.not_credited"), Boolean(video.artist)],
    [t("video.fact_provenance"), playable ? t("video.provenance_checking")
      : done ? t("video.provenance_removed") : t("video.provenance_later"), false, "provenance"],
    [t("video.fact_listed"), video.public ? t("video.listed_yes") : t("video.listed_no")],
  ];
  if (video.request.loop) facts.push([t("video.fact_loop"), t("video.loop_yes")]);
  if (video.remixed_from) facts.push([t("video.fact_remix_of"), video.remixed_from, true]);
  $("#video-facts").replaceChildren(...facts.flatMap(([name, value, asWritten = false, fact]) => {
    const dt = document.createElement("dt");
    const dd = document.createElement("dd");
    dt.textContent = name;
    dd.textContent = String(value);
    dd.translate = !asWritten;
    if (fact) dd.dataset.fact = fact;
    return [dt, dd];
  }));
}

function offerActions(video) {
  $("#copy-link").onclick = async () => {
    const url = new URL(video.links.share, location.origin).href;
    try { await navigator.clipboard.writeText(url); $("#copy-state").replaceChildren(phrase("video.copied", { url: kept(url) })); }
    catch { $("#copy-state").replaceChildren(kept(url)); }
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
    if (!confirm(t("lists.delete_confirm"))) return;
    await api(`/api/videos/${video.id}`, { method: "DELETE" });
    go("/me");
  };
}

async function showProvenance(id) {
  const badge = $("#video-facts dd[data-fact=provenance]");
  if (!badge) return;
  try {
    const report = await api(`/api/videos/${id}/provenance`);
    const m = report.manifest;
    const verdict = {
      signed: () => (m.state === "Trusted" ? t("video.signed_here") : t("video.signed")),
      tampered: () => t("video.tampered"),
      unsigned: () => t("video.unsigned"),
    }[report.verdict]?.();
    badge.replaceChildren(joined([verdict, m.ai_generated && t("video.ai_generated"),
      m.artist && phrase("video.by_artist", { artist: kept(m.artist) }),
      report.watermark_id && phrase("video.watermark", { id: kept(report.watermark_id) })]));
    badge.dataset.verdict = report.verdict;
  } catch (error) {
    badge.textContent = t("video.provenance_failed", { error: error.message });
  }
}
