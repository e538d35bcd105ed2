// Lists of videos as cards: the public feed, my videos, my favourites.

import { $, api } from "./common.js";
import { moderationNote } from "./moderation.js";
import { promptText } from "./queue.js";
import { isModerator } from "./session.js";
import { state } from "./state.js";

export const LISTS = {
  feed: { title: "Feed", path: "/api/feed" },
  mine: { title: "My videos", path: "/api/me/videos" },
  favourites: { title: "Favourites", path: "/api/me/favourites" },
};

let shown = 0;  // which showList call is current: an answer to an older one (another list, the start) is dropped

function card(video) {
  const item = $("#card-template").content.firstElementChild.cloneNode(true);
  const link = $(".card-link", item);
  link.href = `/v/${video.id}`;
  link.setAttribute("aria-label", `Open video: ${promptText(video)}`);
  const removed = video.moderation?.state === "removed" && !isModerator(state.me);  // its files are gone for its artist too
  $(".thumb", item).src = (!removed && video.links.thumbnail) || "/static/icon.svg";
  $(".card-prompt", item).textContent = promptText(video);
  $(".card-meta", item).textContent = [video.model, video.artist && `by ${video.artist}`,
    video.status !== "completed" && video.status, video.moderation?.state && `${video.moderation.state} by a moderator`]
    .filter(Boolean).join(" · ");
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
    if (!confirm("Delete this video and its files?")) return;
    await api(`/api/videos/${video.id}`, { method: "DELETE" });
    item.remove();
  });
  return item;
}

/** A favourite button (a card's star, or the video page's) pressed or not. */
export function setFavourite(button, on) {
  button.setAttribute("aria-pressed", String(on));
  button.firstChild.textContent = button.classList.contains("favourite") ? (on ? "★" : "☆") : (on ? "★ Favourite" : "☆ Favourite");
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
    $("#list-empty").textContent = "No videos here yet.";
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
