// Lists of videos as cards: the public feed, my videos, my favourites.

import { $, api } from "./common.js";
import { has, t } from "./i18n.js";
import { moderationNote } from "./moderation.js";
import { promptText } from "./queue.js";
import { joined, kept, phrase } from "./phrases.js";
import { isModerator } from "./session.js";
import { state } from "./state.js";

export const LISTS = {
  feed: { title: t("lists.feed"), path: "/api/feed" },
  mine: { title: t("lists.mine"), path: "/api/me/videos" },
  favourites: { title: t("lists.favourites"), path: "/api/me/favourites" },
};

// Where a video is, in a word (a card's line).
function stateWord(status) {
  if (status === "queued") return t("lists.status_queued");
  if (status === "in_progress") return t("lists.status_in_progress");
  return has(`status.${status}`) ? t(`status.${status}`) : status;
}

let shown = 0;  // which showList call is current: an answer to an older one (another list, the start) is dropped

function card(video, index) {
  const item = $("#card-template").content.firstElementChild.cloneNode(true);
  if (index < 4) $(".thumb", item).loading = "eager";  // the first row, in view at once: not held back as lazy
  const link = $(".card-link", item);
  link.href = `/v/${video.id}`;
  // Its name for a screen reader, in words (the thumbnail says nothing): the prompt kept apart, as everywhere.
  const name = Object.assign(document.createElement("span"), { className: "visually-hidden" });
  name.append(phrase("lists.open_video", { prompt: video.prompt == null ? promptText(video) : kept(video.prompt) }));
  link.append(name);
  const removed = video.moderation?.state === "removed" && !isModerator(state.me);  // its files are gone for its artist too
  $(".thumb", item).src = (!removed && video.links.thumbnail) || "/static/icon.svg";
  $(".card-prompt", item).textContent = promptText(video);
  $(".card-prompt", item).translate = video.prompt == null;  // a prompt is the artist's words
  const moderated = { hidden: () => t("lists.moderated_hidden"), removed: () => t("lists.moderated_removed") };
  $(".card-meta", item).replaceChildren(joined([video.model && kept(video.model),
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
