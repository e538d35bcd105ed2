// Characters: named references an artist keeps (an image, or a frame of one of their clips), used in
// prompts as "@name" and picked for storyboard shots. The panel lists them with their image and what
// the built-in model sees in it (a shape, a color, a size), makes one from an uploaded image, and
// deletes one. Other views read the list through characters() and hear of changes by an event.

import { $, api } from "./common.js";
import { has, t } from "./i18n.js";

export const CHANGED = "characters-changed";  // dispatched on document when the list changes
let list = [];
const images = new Map();  // character id -> object URL of its image (fetched with the API key)

export function characters() {
  return list;
}

/** Read the list again and redraw the panel. */
export async function loadCharacters() {
  try {
    ({ data: list } = await api("/api/characters"));
    $("#character-error").textContent = "";
  } catch (error) {
    $("#character-error").textContent = error.message;
    return list;
  }
  await render();
  document.dispatchEvent(new Event(CHANGED));
  return list;
}

// What the built-in model draws for it, in words: "a large red star". A star's words have their own
// keys, as French says "une grande étoile rouge" of it but "un grand carré rouge" of a square.
export function seenAs(character) {
  const { size, color, shape } = character.object || {};
  if (!shape) return "";
  if (![`characters.size_${size}`, `characters.color_${color}`, `characters.seen_${shape}`].every(has)) {
    return `${size} ${color} ${shape}`;  // a word from a newer model
  }
  const star = shape === "star";
  return t(`characters.seen_${shape}`, {
    size: star ? t(`characters.star_size_${size}`) : t(`characters.size_${size}`),
    color: star ? t(`characters.star_color_${color}`) : t(`characters.color_${color}`),
  });
}

async function render() {
  $("#characters-empty").hidden = list.length > 0;
  $("#characters").replaceChildren(...await Promise.all(list.map(async (character) => {
    const item = document.createElement("li");
    item.className = "character";
    item.dataset.name = character.name;
    // The picture's alt names the character: the img is marked as a person's text (it shows no other words).
    const picture = Object.assign(document.createElement("img"), { alt: t("characters.image_alt", { name: character.name }),
      src: await imageOf(character), translate: false });
    const body = document.createElement("div");
    const name = Object.assign(document.createElement("p"), { className: "job-prompt", textContent: `@${character.name}`, translate: false });
    const seen = Object.assign(document.createElement("p"), { className: "hint character-seen",
      textContent: seenAs(character) ? t("characters.draws", { object: seenAs(character) }) : t("characters.sees_nothing") });
    // Its label names the character (a person's text), so the button is marked as one; its word is translated.
    const remove = Object.assign(document.createElement("button"), { type: "button", className: "ghost danger", translate: false });
    remove.append(Object.assign(document.createElement("span"), { textContent: t("characters.delete"), translate: true }));
    remove.setAttribute("aria-label", t("characters.delete_named", { name: character.name }));
    remove.addEventListener("click", () => removeCharacter(character));
    body.append(name, seen, remove);
    item.append(picture, body);
    return item;
  })));
}

// Its image as an object URL: the route asks for the API key, which an <img> cannot send.
async function imageOf(character) {
  if (!images.has(character.id)) {
    const key = localStorage.getItem("ungated.key");
    const response = await fetch(`/api/characters/${character.id}/image`,
      { headers: key ? { Authorization: `Bearer ${key}` } : {} });
    images.set(character.id, response.ok ? URL.createObjectURL(await response.blob()) : "/static/icon.svg");
  }
  return images.get(character.id);
}

async function removeCharacter(character) {
  if (!confirm(t("characters.confirm_delete", { name: character.name }))) return;
  try {
    await api(`/api/characters/${character.id}`, { method: "DELETE" });
    URL.revokeObjectURL(images.get(character.id));
    images.delete(character.id);
    await loadCharacters();
  } catch (error) {
    $("#character-error").textContent = error.message;
  }
}

$("#character-add").addEventListener("submit", async (event) => {
  event.preventDefault();
  const name = $("#new-character-name").value.trim();
  const image = $("#new-character-image").files[0];
  const wrong = !name ? t("characters.name_missing") : !image ? t("characters.image_missing") : "";
  $("#character-error").textContent = wrong;
  if (wrong) return;
  const body = new FormData();
  body.append("name", name);
  body.append("image", image);
  const button = $("#character-add button[type=submit]");
  button.disabled = true;
  try {
    await api("/api/characters", { method: "POST", form: body });
    $("#character-add").reset();
    await loadCharacters();
  } catch (error) {
    $("#character-error").textContent = error.message;
  } finally {
    button.disabled = false;
  }
});
