// A batch in the queue panel: one group, its header saying how many of its videos are done with an
// overall progress bar and a Cancel all, its videos inside. The header follows its videos' items
// (their live states), so it needs no requests of its own.

import { $, api, element } from "./common.js";
import { list, t } from "./i18n.js";
import { ACTIVE, FINISHED, JOB_UPDATED, changed, grouping, items, show } from "./queue.js";

/** The group of a batch, made (at the top of the panel when fresh) if it is not there yet. */
export function groupFor(batchId, total, fresh = true) {
  const there = [...document.querySelectorAll(".job-group")].find((group) => group.dataset.batch === batchId);
  if (there) return there;
  const group = element("li", "", "job-group");
  group.dataset.batch = batchId;
  group.dataset.total = total;
  const titleId = `group-${batchId}`;
  const title = element("h3", t("batch.title", { count: total }), "group-title");
  title.id = titleId;
  group.setAttribute("aria-labelledby", titleId);
  const bar = document.createElement("progress");
  Object.assign(bar, { max: 100, value: 0, className: "group-progress" });
  bar.setAttribute("aria-label", t("batch.progress_label"));
  const cancel = element("button", t("batch.cancel_all"), "group-cancel danger");
  cancel.type = "button";
  cancel.addEventListener("click", () => cancelAll(group));
  const actions = element("div", "", "actions");
  actions.append(cancel);
  const head = element("div", "", "group-head");
  head.append(title, element("p", "", "group-state"), element("p", "", "group-detail hint"), bar,
    element("p", "", "error group-error"), actions);
  group.append(head, element("ol", "", "jobs group-jobs"));
  fresh ? $("#queue").prepend(group) : $("#queue").append(group);
  $("#queue-empty").hidden = true;
  group.addEventListener(JOB_UPDATED, () => updateGroup(group));
  return group;
}

/** The group's header from its videos' states: n of m done, the rest that ended, the progress. */
export function updateGroup(group) {
  const jobs = [...group.querySelectorAll(".job")];
  const total = Math.max(Number(group.dataset.total), jobs.length);
  const count = (...states) => jobs.filter((job) => states.includes(job.dataset.status)).length;
  $(".group-state", group).textContent = t("batch.done_of", { done: count("completed"), total });
  const ended = [];
  if (count("failed")) ended.push(t("batch.failed", { count: count("failed") }));
  if (count("cancelled", "deleted")) ended.push(t("batch.cancelled", { count: count("cancelled", "deleted") }));
  $(".group-detail", group).textContent = ended.length ? list(ended, "conjunction") : "";
  const progress = jobs.reduce((sum, job) => sum + (FINISHED.includes(job.dataset.status) ? 100
    : Number(job.dataset.progress || 0)), 0) / total;
  $(".group-progress", group).value = Math.round(progress);
  const active = count(...ACTIVE);
  group.dataset.active = active;
  $(".group-cancel", group).hidden = active === 0;
}

async function cancelAll(group) {
  const active = Number(group.dataset.active);
  if (!active || !confirm(t("batch.cancel_confirm", { count: active }))) return;
  try {
    const answer = await api(`/api/batches/${encodeURIComponent(group.dataset.batch)}/cancel`, { method: "POST" });
    for (const video of answer.data) if (items.has(video.id)) show(items.get(video.id), video);
    $(".group-error", group).textContent = "";
    changed();
  } catch (error) {
    $(".group-error", group).textContent = error.message;
  }
}

grouping.into = (batchId, total, fresh) => $(".group-jobs", groupFor(batchId, total, fresh));
