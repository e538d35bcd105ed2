// Moderation after the fact, never before: anyone reports a shared clip from its page (a reason and
// a note) and the clip stays shared; moderators see the reports, hide a clip from the feed, remove
// it or restore it, or dismiss a report, each with a reason its artist sees. Its artist sees what
// was done (moderationNote) on their clip's page and card.

import { $, api } from "./common.js";
import { has, moment, t } from "./i18n.js";
import { joined, keep, kept, nodes, phrase } from "./phrases.js";

const REASONS = ["spam", "harassment", "hate", "sexual", "violence", "illegal", "copyright", "other"];
let reported = null;  // the video the report dialog is open for

/** A report's reason in words ("Spam"); one this page does not know, as the server wrote it. */
function reasonName(reason) {
  return REASONS.includes(reason) ? t(`moderation.reason_${reason}`) : reason;
}

// What a moderator did, with their reason as given (a text, or a mark for nodes()).
function note(done, reason) {
  if (done.state === "removed") {
    return done.reason ? t("moderation.note_removed_reason", { reason }) : t("moderation.note_removed");
  }
  return done.reason ? t("moderation.note_hidden_reason", { reason }) : t("moderation.note_hidden");
}

/** What a moderator did to a clip, in words for its artist (or a moderator); "" when nothing. */
export function moderationNote(video) {
  const done = video.moderation;
  return done?.state ? note(done, done.reason) : "";
}

/** The same note in node, the moderator's reason in an element of its own (kept as written). */
export function showModerationNote(node, video) {
  const done = video.moderation;
  node.replaceChildren(done?.state ? nodes(note(done, done.reason && keep(done.reason))) : "");
}

/** The video page's Report button, for anyone but the clip's artist. */
export function offerReport(video) {
  const button = $("#video-report");
  button.hidden = video.mine || video.status !== "completed";
  button.disabled = false;
  button.textContent = t("moderation.report");
  $("#report-state").textContent = "";
  button.onclick = () => {
    reported = video;
    $("#report-form").reset();
    $("#report-error").textContent = "";
    $("#report").showModal();
  };
}

$("#report-cancel").addEventListener("click", () => $("#report").close());
$("#report-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const button = $("#report-send");
  button.disabled = true;
  try {
    await api(`/api/videos/${encodeURIComponent(reported.id)}/reports`, { method: "POST",
      json: { reason: $("#report-reason").value, note: $("#report-note").value.trim() } });
    $("#report").close();
    $("#report-state").textContent = t("moderation.report_thanks");
    Object.assign($("#video-report"), { disabled: true, textContent: t("moderation.reported") });
  } catch (error) {
    $("#report-error").textContent = error.message;
  } finally {
    button.disabled = false;
  }
});

// ---- the moderators' queue ---------------------------------------------------------------------

/** How a report was closed, in words, with the moderator's reason as they wrote it. The server
 * writes "hidden: REASON" or "removed: REASON" for an acted-on report, the reason or "dismissed"
 * for a dismissed one. */
function resolution(report) {
  const said = report.resolution || "";
  const acted = report.status === "actioned" && /^(hidden|removed): ([\s\S]*)$/.exec(said);
  if (acted) {
    return acted[2] ? phrase(`moderation.resolution_${acted[1]}_reason`, { reason: kept(acted[2]) })
      : t(`moderation.resolution_${acted[1]}`);
  }
  if (report.status === "dismissed") {
    return said && said !== "dismissed" ? phrase("moderation.resolution_dismissed_reason", { reason: kept(said) })
      : t("moderation.resolution_dismissed");
  }
  return said && kept(said);
}

export async function showModeration(admin) {
  $("#moderation-members").hidden = admin;  // an admin has Admin in the menu already
  await listReports();
}

async function listReports() {
  const status = $("#report-filter").value;
  try {
    const { data } = await api(`/api/reports?status=${status}`);
    if ($("#report-filter").value !== status) return;
    $("#reports-error").textContent = "";
    $("#reports").replaceChildren(...data.map(reportItem));
    $("#reports-empty").hidden = data.length > 0;
  } catch (error) {
    $("#reports").replaceChildren();
    $("#reports-empty").hidden = true;
    $("#reports-error").textContent = error.message;
  }
}

$("#report-filter").addEventListener("change", listReports);

function reportItem(report) {
  const item = $("#report-template").content.firstElementChild.cloneNode(true);
  const video = report.video;
  item.dataset.id = report.id;
  item.dataset.video = video.id;
  const link = $(".report-link", item);
  link.href = `/v/${video.id}`;
  link.dataset.nav = "";
  link.setAttribute("aria-label", t("moderation.open_reported", { id: video.id }));
  $(".preview", item).src = video.thumbnail || video.links?.thumbnail || "/static/icon.svg";
  $(".report-reason", item).textContent = reasonName(report.reason);
  const prompt = $(".report-prompt", item);
  prompt.textContent = video.prompt ?? t("video.private_prompt");
  prompt.translate = video.prompt == null;  // what the artist wrote stays as written
  const clip = video.moderation?.state;
  $(".report-meta", item).replaceChildren(joined([
    video.artist && phrase("moderation.by_artist", { artist: kept(video.artist) }),
    t("moderation.reported_at", { moment: moment(report.created_at) }),
    has(`moderation.clip_${clip}`) ? t(`moderation.clip_${clip}`) : clip,
    report.status !== "open" && (has(`moderation.status_${report.status}`) ? t(`moderation.status_${report.status}`) : report.status),
  ]));
  $(".report-note", item).textContent = report.note || "";
  $(".report-note", item).translate = false;
  $(".report-resolution", item).replaceChildren(report.status === "open" ? ""
    : joined([resolution(report), report.resolved_at && moment(report.resolved_at)]));
  const open = report.status === "open";
  $(".report-hide", item).hidden = !open || video.moderation?.state === "hidden";
  $(".report-remove", item).hidden = !open || video.moderation?.state === "removed";
  $(".report-dismiss", item).hidden = !open;
  $(".report-restore", item).hidden = !video.moderation?.state;
  $(".report-act", item).hidden = !open && !video.moderation?.state;
  const why = $(".report-why", item);
  const act = async (path, body, needsReason) => {
    const reason = why.value.trim();
    if (needsReason && !reason) {
      $(".report-error", item).textContent = t("moderation.reason_needed");
      why.focus();
      return;
    }
    try {
      await api(path, { method: "POST", json: { ...body, reason } });
      await listReports();
    } catch (error) {
      $(".report-error", item).textContent = error.message;
    }
  };
  const moderate = (action, needsReason) => () =>
    act(`/api/videos/${encodeURIComponent(video.id)}/moderation`, { action }, needsReason);
  $(".report-hide", item).addEventListener("click", moderate("hide", true));
  $(".report-remove", item).addEventListener("click", moderate("remove", true));
  $(".report-restore", item).addEventListener("click", moderate("restore", false));
  $(".report-dismiss", item).addEventListener("click", () =>
    act(`/api/reports/${encodeURIComponent(report.id)}/dismiss`, {}, false));
  return item;
}
