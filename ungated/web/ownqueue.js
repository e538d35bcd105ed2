// One's own queue in one's hands (GET /api/me/queue): the panel's queued videos in the order
// workers take them, each with its place and ETA, polled every few seconds while the create view shows something
// queued, so places change when anyone's job ends. Reorder by pointer (drag an item by its handle)
// or by keyboard (its Move buttons, or Alt+Up, Alt+Down, Alt+Home on it), the focus staying on
// the moved item and the move said in #queue-status; pause, resume and cancel the whole queue.

import { $, api } from "./common.js";
import { t } from "./i18n.js";
import { ACTIVE, FINISHED, QUEUE_CHANGED, follow, items, show, watch } from "./queue.js";

const POLL_MS = 3000;
const panel = $("#queue");
let known = null;  // the last answer of GET /api/me/queue
let signedIn = false;  // the caller has a queue (the panel has been filled once)
let asking = null;
let again = false;

// ---- what the server says of the queue -----------------------------------------------------------

async function refresh() {
  if (asking) { again = true; return asking; }
  asking = (async () => {
    try {
      apply(await api("/api/me/queue"));
    } catch (error) {
      if (error.status === 401) signedIn = false;
    } finally {
      asking = null;
    }
    if (again) { again = false; await refresh(); }
  })();
  return asking;
}

let soon;
function refreshSoon() {
  clearTimeout(soon);
  soon = setTimeout(refresh, 300);
}

/** Show the queue as the server answered it (GET /api/me/queue, and the answers of its actions). */
function apply(answer) {
  known = answer;
  const count = answer.counts.queued;
  for (const video of answer.running) show(watch(video), video);
  const seen = new Set(answer.running.map((video) => video.id));
  for (const video of answer.data) {
    seen.add(video.id);
    const item = watch(video);
    show(item, video);
    item.dataset.place = video.place;
    const place = $(".job-place", item);
    place.textContent = t("queue.place", { place: video.place + 1, count });
    place.hidden = $(".job-move", item).hidden = false;
    item.draggable = true;
    $(".job-front", item).setAttribute("aria-disabled", String(video.place === 0));
    $(".job-up", item).setAttribute("aria-disabled", String(video.place === 0));
    $(".job-down", item).setAttribute("aria-disabled", String(video.place === count - 1));
  }
  // Those it no longer lists ended (or are beyond its page): asked for once each.
  for (const [id, item] of items) {
    if (seen.has(id) || !ACTIVE.includes(item.dataset.status) || (answer.has_more && item.dataset.status === "queued")) continue;
    delete item.dataset.place;
    item.dataset.leaving = "";  // it stays where it is until it says how it ended
    api(`/api/videos/${id}`).then((video) => show(item, video)).catch(() => {});
  }
  const idle = !(answer.paused || count + answer.counts.in_progress > 0);
  // A keyboard user on a control that goes away keeps their place in the panel (not the page's start).
  if (idle && $("#queue-controls").contains(document.activeElement)) $("#queue-title").focus();
  $("#queue-controls").hidden = idle;
  $("#queue-paused").hidden = !answer.paused;
  $("#queue-pause").hidden = answer.paused;
  $("#queue-resume").hidden = !answer.paused;
  arrange();
  follow([...answer.running, ...answer.data].map((video) => video.id));
}

// ---- the panel's order -----------------------------------------------------------------------

// The panel keeps its newest-first order, but its queued entries (an item, or a group with queued
// videos) take the places they hold among those entries in the order workers take them: the
// first to be made on top. Those being made and those that ended stay where they are.
function rank(entry) {
  const jobs = entry.classList.contains("job") ? [entry] : [...entry.querySelectorAll(".job")];
  const ranks = jobs.filter((job) => job.dataset.leaving === undefined).map((job) => (job.dataset.place !== undefined ? [Number(job.dataset.place), 0, 0]
    : job.dataset.status === "queued" ? [Infinity, Number(job.dataset.created), Number(job.dataset.variant)] : null))
    .filter(Boolean);  // one queued but not placed yet goes after those placed, as it was asked for
  return ranks.length ? ranks.sort(compare)[0] : null;
}

function compare(a, b) {
  return a[0] - b[0] || a[1] - b[1] || a[2] - b[2];
}

function sortList(list) {
  const entries = [...list.children];
  const slots = entries.map((entry, index) => ({ entry, index, rank: rank(entry) })).filter((slot) => slot.rank);
  const sorted = [...slots].sort((a, b) => compare(a.rank, b.rank) || a.index - b.index);
  if (sorted.every((slot, at) => slot === slots[at])) return;
  const wanted = [...entries];
  slots.forEach((slot, at) => { wanted[slot.index] = sorted[at].entry; });
  for (const entry of wanted) list.append(entry);
}

function arrange() {
  const focused = document.activeElement;
  sortList(panel);
  for (const group of panel.querySelectorAll(".group-jobs")) sortList(group);
  if (focused?.isConnected && document.activeElement !== focused) focused.focus();  // moved, not left
}

// ---- moving ------------------------------------------------------------------------------------

const placed = (entry) => (entry.classList.contains("job") ? [entry] : [...entry.querySelectorAll(".job")])
  .filter((job) => job.dataset.place !== undefined).sort((a, b) => a.dataset.place - b.dataset.place);

/** The id to move before so as to land just after video `id` (null: the end), `moving` left out. */
function after(id, moving) {
  const order = known.data.map((video) => video.id).filter((other) => other !== moving);
  return order[order.indexOf(id) + 1] ?? null;
}

/** Where `how` (front, up, down) takes an item: a move's body, or null where it cannot go. */
function target(item, how) {
  if (how === "front") return Number(item.dataset.place) === 0 ? null : { position: 0 };
  // Among its neighbours: the other items of its group, or the panel's entries.
  const entries = [...item.parentElement.children].filter((entry) => entry === item || placed(entry).length);
  const index = entries.indexOf(item);
  if (how === "up" && index > 0) return { before: placed(entries[index - 1])[0].dataset.id };
  if (how === "down" && index < entries.length - 1) {
    return { before: after(placed(entries[index + 1]).at(-1).dataset.id, item.dataset.id) };
  }
  return null;
}

async function move(item, body, how) {
  const id = item.dataset.id;
  if (!body) {
    say(how === "down" ? t("queue.already_last") : t("queue.already_first"));
    return;
  }
  try {
    apply(await api(`/api/videos/${id}/move`, { method: "POST", json: body }));
    const place = known.data.findIndex((video) => video.id === id);
    say(t("queue.moved", { place: place + 1, count: known.counts.queued }));
  } catch (error) {
    say(error.message);
    refresh();
  }
}

function say(message) {
  const status = $("#queue-status");
  status.textContent = "";
  requestAnimationFrame(() => { status.textContent = message; });  // the same words again are said again
}

const movable = (node) => {
  const item = node?.closest?.(".job");
  return item && panel.contains(item) && item.dataset.place !== undefined ? item : null;
};

panel.addEventListener("click", (event) => {
  const button = event.target.closest(".job-front, .job-up, .job-down");
  const item = movable(button);
  if (!item) return;
  const how = button.classList.contains("job-front") ? "front" : button.classList.contains("job-up") ? "up" : "down";
  move(item, target(item, how), how);
});

const KEYS = { ArrowUp: "up", ArrowDown: "down", Home: "front" };
panel.addEventListener("keydown", (event) => {
  const item = movable(event.target);
  if (!item || !event.altKey || !KEYS[event.key]) return;
  event.preventDefault();
  move(item, target(item, KEYS[event.key]), KEYS[event.key]);
});

// By pointer: an item is dragged by its handle (a queued item is draggable, but only from there),
// and dropped before or after another of its list.
let dragged = null;
let grabbed = null;  // the item whose handle the pointer went down on
panel.addEventListener("pointerdown", (event) => {
  grabbed = event.target.closest(".job-handle") ? movable(event.target) : null;
});
panel.addEventListener("dragstart", (event) => {
  dragged = grabbed;
  if (!dragged) {
    if (event.target.classList?.contains("job")) event.preventDefault();  // its text is selected, not dragged
    return;
  }
  event.dataTransfer.setData("text/plain", dragged.dataset.id);
  event.dataTransfer.effectAllowed = "move";
  dragged.classList.add("dragging");
});

function dropTarget(event) {
  if (!dragged) return null;
  const entry = [...dragged.parentElement.children].find((child) => child.contains(event.target));
  if (!entry || entry === dragged || !placed(entry).length) return null;
  const box = entry.getBoundingClientRect();
  return { entry, before: event.clientY < box.top + box.height / 2 };
}

function unmark() {
  for (const marked of panel.querySelectorAll(".drop-before, .drop-after")) marked.classList.remove("drop-before", "drop-after");
}

panel.addEventListener("dragover", (event) => {
  const drop = dropTarget(event);
  unmark();
  if (!drop) return;
  event.preventDefault();
  drop.entry.classList.add(drop.before ? "drop-before" : "drop-after");
});
panel.addEventListener("drop", (event) => {
  const drop = dropTarget(event);
  unmark();
  if (!drop) return;
  event.preventDefault();
  const ids = placed(drop.entry);
  const body = { before: drop.before ? ids[0].dataset.id : after(ids.at(-1).dataset.id, dragged.dataset.id) };
  move(dragged, body, "down");
});
panel.addEventListener("dragend", () => {
  unmark();
  dragged?.classList.remove("dragging");
  dragged = grabbed = null;
});

// ---- the whole queue -----------------------------------------------------------------------------

async function act(action) {
  try {
    const answer = await api(`/api/me/queue/${action}`, { method: "POST" });
    apply(answer);
    if (action === "pause") say(t("queue.paused_now"));
    if (action === "resume") say(t("queue.resumed_now"));
    if (action === "cancel") {
      for (const id of answer.cancelled) {
        const item = items.get(id);
        if (item && !FINISHED.includes(item.dataset.status)) api(`/api/videos/${id}`).then((video) => show(item, video)).catch(() => {});
      }
      say(t("queue.cancelled_all", { count: answer.cancelled.length }));
    }
  } catch (error) {
    say(error.message);
  }
}

$("#queue-pause").addEventListener("click", async () => {
  await act("pause");
  $("#queue-resume").focus();  // the button pressed is hidden: its counterpart takes the focus
});
$("#queue-resume").addEventListener("click", async () => {
  await act("resume");
  $("#queue-pause").focus();
});
$("#queue-cancel-all").addEventListener("click", () => {
  const count = known ? known.counts.queued + known.counts.in_progress : 0;
  if (confirm(t("queue.cancel_all_confirm", { count }))) act("cancel");
});

// ---- keeping up --------------------------------------------------------------------------------

document.addEventListener(QUEUE_CHANGED, () => {
  signedIn = true;
  arrange();  // at once: a video just made is never seen out of its place
  refreshSoon();
});

function wanted() {
  if (!signedIn || document.hidden || $("#view-create").hidden) return false;
  const unfinished = [...items.values()].some((item) => ACTIVE.includes(item.dataset.status));
  return unfinished || known?.paused || known?.counts.queued > 0 || known?.counts.in_progress > 0;
}

setInterval(() => { if (wanted()) refresh(); }, POLL_MS);
document.addEventListener("visibilitychange", () => { if (wanted()) refresh(); });
