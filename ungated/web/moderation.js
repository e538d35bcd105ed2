// Moderation after the fact, never before: anyone reports a shared clip from its page (a reason and
// a note) and the clip stays shared; moderators see the reports, hide a clip from the feed, remove
// it or restore it, or dismiss a report, each with a reason its artist sees. Its artist sees what
// was done (moderationNote) on their clip's page and card.

import { $, api, when } from "./common.js";

const REASONS = Object.fromEntries([...$("#report-reason").options].map((o) => [o.value, o.textContent]));
let reported = null;  // the video the report dialog is open for

/** What a moderator did to a clip, in words for its artist (or a moderator); "" when nothing. */
export function moderationNote(video) {
  const done = video.moderation;
  if (!done?.state) return "";
  const what = done.state === "removed"
    ? "A moderator removed this clip: only you see it now"
    : "A moderator hid this clip from the feed (its link still plays)";
  return done.reason ? `${what}. Their reason: ${done.reason}` : `${what}.`;
}

/** The video page's Report button, for anyone but the clip's artist. */
export function offerReport(video) {
  const button = $("#video-report");
  button.hidden = video.mine || video.status !== "completed";
  button.disabled = false;
  button.textContent = "Report";
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
    $("#report-state").textContent = "Thanks: moderators will look at it. It stays shared meanwhile.";
    Object.assign($("#video-report"), { disabled: true, textContent: "Reported" });
  } catch (error) {
    $("#report-error").textContent = error.message;
  } finally {
    button.disabled = false;
  }
});

// ---- the moderators' queue ---------------------------------------------------------------------

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
  link.setAttribute("aria-label", `Open the reported clip ${video.id}`);
  $(".preview", item).src = video.thumbnail || video.links?.thumbnail || "/static/icon.svg";
  $(".report-reason", item).textContent = REASONS[report.reason] || report.reason;
  $(".report-prompt", item).textContent = video.prompt ?? "(the artist keeps this prompt private)";
  $(".report-meta", item).textContent = [video.artist && `by ${video.artist}`, `reported ${when(report.created_at)}`,
    video.moderation?.state && `clip ${video.moderation.state}`, report.status !== "open" && report.status]
    .filter(Boolean).join(" · ");
  $(".report-note", item).textContent = report.note || "";
  $(".report-resolution", item).textContent = report.status === "open" ? ""
    : [report.resolution, report.resolved_at && when(report.resolved_at)].filter(Boolean).join(" · ");
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
      $(".report-error", item).textContent = "reason: say why (the artist sees it)";
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
