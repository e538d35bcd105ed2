// Lists of videos as cards: the public feed, my videos, my favourites.

import { $, api } from "./common.js";
import { moderationNote } from "./moderation.js";
import { promptText } from "./queue.js";
import { isModerator } from "./session.js";
import { state } from "./state.js";
import { has, t } from "./i18n.js";

export const LISTS = {
  feed: { title: t("lists.feed"), path: "/api/feed" },
  mine: { title: t("lists.mine"), path: "/api/me/videos" },
  favourites: { title: t("lists.favourites"), path: "/api/me/favourites" },
};

// ---- a message around names: what people wrote kept apart, never translated --------------------

/** Text someone wrote (a name, a model id, a prompt) in an element marked translate="no". */
export function kept(text, tag = "span") {
  const node = document.createElement(tag);
  node.textContent = text;
  node.translate = false;
  return node;
}

/** A message as nodes to append: its {names} filled from values, a value that is a Node (e.g.
 * kept(artist)) put in as a copy of it, the rest written as t() writes them. */
export function phrase(key, values = {}) {
  const text = t(key, Object.fromEntries(Object.entries(values).filter(([, value]) => !(value instanceof Node))));
  return text.split(/\{(\w+)\}/).map((part, index) => (index % 2 ? values[part].cloneNode(true) : part))
    .filter((part) => part !== "");
}

/** Facts in a row, " · " between them; each a string or a list of nodes. */
export function joined(parts) {
  return parts.filter((part) => part && part.length !== 0).flatMap((part, index) => [...(index ? [" · "] : []),
    ...(Array.isArray(part) ? part : [part])]);
}

// Where a video is, in a word (a card's line).
function stateWord(status) {
  if (status === "queued") return t("lists.status_queued");
  if (status === "in_progress") return t("lists.status_in_progress");
  return has(`status.${status}`) ? t(`status.${status}`) : status;
}

let shown = 0;  // which showList call is current: an answer to an older one (another list, the start) is dropped

function card(video) {
  const item = $("#card-template").content.firstElementChild.cloneNode(true);
  const link = $(".card-link", item);
  link.href = `/v/${video.id}`;
  link.setAttribute("aria-label", t("lists.open_video", { prompt: promptText(video) }));
  const removed = video.moderation?.state === "removed" && !isModerator(state.me);  // its files are gone for its artist too
  $(".thumb", item).src = (!removed && video.links.thumbnail) || "/static/icon.svg";
  $(".card-prompt", item).textContent = promptText(video);
  $(".card-prompt", item).translate = video.prompt == null;  // a prompt is the artist's words
  const moderated = { hidden: () => t("lists.moderated_hidden"), removed: () => t("lists.moderated_removed") };
  $(".card-meta", item).replaceChildren(...joined([video.model && kept(video.model),
    video.artist && phrase("lists.by_artist", { artist: kept(video.artist) }),
    video.status !== "completed" && stateWord(video.status), moderated[video.moderation?.state]?.()]));
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
    if (!confirm(t("lists.delete_confirm"))) return;
    await api(`/api/videos/${video.id}`, { method: "DELETE" });
    item.remove();
  });
  return item;
}

/** A favourite button (a card's star, or the video page's) pressed or not. */
export function setFavourite(button, on) {
  button.setAttribute("aria-pressed", String(on));
  button.firstChild.textContent = button.classList.contains("favourite") ? (on ? "★" : "☆")
    : on ? t("lists.favourite_on") : t("lists.favourite_off");
}

export async function showList(view, after = null) {
  const list = LISTS[view];
  const call = after ? shown : ++shown;  // "Load more" continues the list it belongs to
  $("#list-title").textContent = list.title;
  if (!after) $("#grid").replaceChildren();
  $("#more").hidden = true;  // until this page answers: a second click is not a second page
  try {
    const page = await api(`${list.path}?limit=24${after ? `&after=${encodeURIComponent(after)}` : ""}`);
    if (call !== shown) return;
    $("#grid").append(...page.data.map(card));
    $("#list-empty").hidden = $("#grid").children.length > 0;
    $("#list-empty").textContent = t("lists.empty");
    const more = $("#more");
    more.hidden = !page.has_more;
    more.onclick = () => showList(view, page.last_id);
  } catch (error) {
    if (call !== shown) return;
    $("#list-empty").hidden = false;
    $("#list-empty").textContent = error.message;
  }
}

/** Leaving the list: an answer still on its way is not drawn. */
export function stopList() {
  shown += 1;
}
