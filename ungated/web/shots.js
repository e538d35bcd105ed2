// The storyboard's timeline of shot cards: each with its prompt, seconds, an optional image or
// character, and its take's progress; added, removed and reordered (drag a card by its grip, or
// its ← and → buttons, focus following the card). storyboard.js owns the board and its saving.

import { $, secondsRange } from "./common.js";
import { CHANGED, characters, seenAs } from "./characters.js";
import { has, number, t } from "./i18n.js";

const SHOT_STATES = ["queued", "completed", "failed", "cancelled"];  // each with its shots.state_* message

/** The board in the editor, what its model offers, and Regenerate: set by storyboard.js. */
export const editing = { board: null, caps: () => null, regenerate: () => {} };

export const making = () => editing.board?.status === "making";

let nextKey = 0;  // each shot card's key, saved or not

/** A shot from the server, with a key for its card. */
export const keyed = (shot) => ({ ...shot, key: nextKey++ });

export function newShot() {
  const caps = editing.caps();
  return { key: nextKey++, prompt: "", seconds: caps ? Math.min(caps.default_seconds, secondsRange(caps).max) : 2 };
}

export function drawShots() {
  $("#shots").replaceChildren(...editing.board.shots.map(shotCard));
  showLength();
}

function showLength() {
  const seconds = editing.board.shots.reduce((sum, shot) => sum + (Number(shot.seconds) || 0), 0);
  $("#board-length").textContent = t("shots.length", { count: editing.board.shots.length, seconds: number(seconds, 1) });
}

function shotCard(shot, index) {
  const item = $("#shot-template").content.firstElementChild.cloneNode(true);
  const caps = editing.caps();
  const place = { number: index + 1 };
  item.dataset.key = shot.key;
  $(".shot-number", item).textContent = t("shots.number", place);
  for (const [selector, label, disabled] of [[".shot-left", t("shots.move_earlier", place), index === 0],
    [".shot-right", t("shots.move_later", place), index === editing.board.shots.length - 1],
    [".shot-remove", t("shots.remove", place), editing.board.shots.length === 1]]) {
    const button = $(selector, item);
    button.setAttribute("aria-label", label);
    button.title = label;
    button.disabled = disabled || making();
  }
  $(".shot-left", item).addEventListener("click", () => move(index, index - 1, ".shot-left"));
  $(".shot-right", item).addEventListener("click", () => move(index, index + 1, ".shot-right"));
  $(".shot-remove", item).addEventListener("click", () => {
    editing.board.shots.splice(index, 1);
    changed();
    drawShots();
    $(".shot-prompt", $("#shots").children[Math.min(index, editing.board.shots.length - 1)]).focus();
  });

  const prompt = $(".shot-prompt", item);
  Object.assign(prompt, { value: shot.prompt, placeholder: t("shots.prompt_placeholder"), translate: false });
  prompt.setAttribute("aria-label", t("shots.prompt_label", place));
  prompt.addEventListener("input", () => { shot.prompt = prompt.value; changed(); });

  const seconds = $(".shot-seconds", item);
  if (caps) Object.assign(seconds, secondsRange(caps));
  seconds.value = shot.seconds ?? "";
  seconds.setAttribute("aria-label", t("shots.seconds_label", place));
  seconds.addEventListener("input", () => { shot.seconds = Number(seconds.value); changed(); showLength(); });

  $(".shot-character-field", item).hidden = !caps?.verbs?.characters;
  const character = $(".shot-character", item);
  character.setAttribute("aria-label", t("shots.character_label", place));
  fillCharacters(character, shot.character);
  character.addEventListener("change", () => { shot.character = character.value || null; changed(); });

  $(".shot-image-field", item).hidden = !caps?.image_input;
  const image = $(".shot-image", item);
  image.setAttribute("aria-label", shot.has_image ? t("shots.image_replace_label", place) : t("shots.image_label", place));
  image.addEventListener("change", () => readImage(shot, image.files[0]));

  $(".shot-regenerate", item).setAttribute("aria-label", t("shots.regenerate_label", place));
  $(".shot-regenerate", item).addEventListener("click", () => editing.regenerate(shot, item));
  dragging(item, index);
  showShot(item, shot, index);
  return item;
}

function fillCharacters(select, chosen) {
  // A character's option holds its name (a person's text): marked so, its words from the built-in model with it.
  select.replaceChildren(new Option(t("shots.no_character"), ""), ...characters().map((c) => Object.assign(
    new Option(seenAs(c) ? t("shots.character_option", { name: c.name, seen: seenAs(c) }) : `@${c.name}`, c.id), { translate: false })));
  select.value = characters().some((c) => c.id === chosen) ? chosen : "";
}

document.addEventListener(CHANGED, () => {
  if (!editing.board) return;
  for (const card of $("#shots").children) {
    const shot = editing.board.shots.find((s) => String(s.key) === card.dataset.key);
    fillCharacters($(".shot-character", card), shot?.character);
  }
});

function readImage(shot, file) {
  if (!file) return;
  const reader = new FileReader();
  reader.addEventListener("load", () => { shot.image = reader.result; changed(); });
  reader.readAsDataURL(file);
}

// A shot's take as the server reports it: its state, a small bar, its thumbnail when done.
export function showShot(item, shot, index) {
  const state = shot.status && shot.status !== "pending" ? shot.status : null;  // pending: no take yet
  const badge = $(".shot-state", item);
  badge.textContent = !state ? (making() ? t("shots.waiting") : t("shots.not_made"))
    : state === "in_progress" ? t("shots.making", { progress: shot.progress ?? 0 })
      : SHOT_STATES.includes(state) && has(`shots.state_${state}`) ? t(`shots.state_${state}`) : state;
  badge.dataset.state = state || "draft";
  item.dataset.status = state || "draft";
  const bar = $(".shot-bar", item);
  bar.hidden = !state;
  bar.value = state === "completed" ? 100 : shot.progress ?? 0;
  bar.setAttribute("aria-label", t("shots.bar_label", { number: index + 1, state: badge.textContent }));
  const thumb = $(".shot-thumb", item);
  const src = shot.video && state === "completed" ? `/v1/videos/${shot.video}/content?variant=thumbnail` : null;
  if (src && thumb.getAttribute("src") !== src) Object.assign(thumb, { src, alt: t("shots.take_alt", { number: index + 1 }) });
  thumb.hidden = !src;
  $(".shot-error", item).textContent = shot.error || "";
  $(".shot-regenerate", item).hidden = !(editing.board.id && shot.id && shot.video && !making());
}

function move(from, to, focus) {
  if (to < 0 || to >= editing.board.shots.length || from === to) return;
  const [shot] = editing.board.shots.splice(from, 1);
  editing.board.shots.splice(to, 0, shot);
  changed();
  drawShots();
  $("#shots-moved").textContent = t("shots.moved", { place: to + 1, count: editing.board.shots.length });
  const card = $(`#shots [data-key="${shot.key}"]`);
  const button = focus && $(focus, card);
  (button && !button.disabled ? button : $(".shot-prompt", card)).focus();
}

// Drag a card by its head onto another card: it takes that card's place.
function dragging(item, index) {
  const head = $(".shot-head", item);
  head.draggable = !making();
  head.addEventListener("dragstart", (event) => {
    event.dataTransfer.setData("text/plain", String(index));
    event.dataTransfer.effectAllowed = "move";
    event.dataTransfer.setDragImage(item, 24, 24);
    item.classList.add("dragging");
  });
  head.addEventListener("dragend", () => item.classList.remove("dragging"));
  item.addEventListener("dragover", (event) => {
    if (!event.dataTransfer.types.includes("text/plain")) return;
    event.preventDefault();
    event.dataTransfer.dropEffect = "move";
  });
  item.addEventListener("drop", (event) => {
    event.preventDefault();
    const from = Number(event.dataTransfer.getData("text/plain"));
    if (Number.isInteger(from)) move(from, index, null);
  });
}

export function changed() {
  editing.board.edited = true;
}

$("#shot-add").addEventListener("click", () => {
  editing.board.shots.push(newShot());
  changed();
  drawShots();
  $(".shot-prompt", $("#shots").lastElementChild).focus();
});
