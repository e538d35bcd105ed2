// The storyboard view: a board's editor (boards.js lists them). A timeline of shot cards (prompt,
// seconds, an optional image or character) to add, remove, reorder (drag a card by its grip, or use
// its ← and → buttons) and set lengths; the board's model and size; Make, with progress across the
// whole board and per shot; the stitched clip with its share link; and Regenerate for one shot,
// after which the server stitches the board again.

import { listBoards } from "./boards.js";
import { $, api, secondsRange } from "./common.js";
import { loadCharacters } from "./characters.js";
import { has, seconds as secondsText, t } from "./i18n.js";
import { kept, phrase } from "./phrases.js";
import { modelTitle } from "./models.js";
import { fillSizes } from "./sizes.js";
import { changed, drawShots, editing, keyed, making, newShot, showShot } from "./shots.js";

const POLL_MS = 1000;
const FIELDS = ["prompt", "seconds", "character", "image"];  // a shot's fields a refusal names: storyboard.field_*

let context = null;  // {me, models, go} from the studio
let board = null;  // the board in the editor; `id` once it is saved, `edited` while it has unsaved changes
let poller = null;
let opened = 0;  // which showBoards call is current: a board that answers after another was opened is not drawn

export async function showBoards(boardId, studio) {
  stopBoards();
  const call = opened;
  context = studio;
  // The editor is shown once its board is in it: until then its buttons would act on another board.
  $("#board").hidden = true;
  $("#boards-home").hidden = Boolean(boardId);
  $("#boards-error").textContent = "";
  if (!studio.me.client) {
    $("#boards-home").hidden = false;
    $("#boards-error").textContent = t("storyboard.sign_in");
    return;
  }
  loadCharacters();
  if (!boardId) return listBoards();
  $("#board-error").textContent = "";
  if (boardId === "new") return edit(draft());
  try {
    const fresh = await api(`/api/boards/${encodeURIComponent(boardId)}`);
    if (call === opened) edit(fresh);
  } catch (error) {
    if (call !== opened) return;
    board = editing.board = null;
    $("#boards-home").hidden = false;
    await listBoards();
    $("#boards-error").textContent = error.message;
  }
}

/** Leaving the view (or opening another board): what is on its way is not drawn, nor followed. */
export function stopBoards() {
  opened += 1;
  clearTimeout(poller);
  poller = null;
}

// ---- the editor --------------------------------------------------------------------------------

const served = () => context.models.filter((m) => m.served && m.weights_present);
const boardModel = () => context.models.find((m) => m.id === $("#board-model").value);
editing.caps = () => boardModel()?.capabilities;

function draft() {
  const flowing = served().find((m) => m.capabilities.verbs?.continue) || served()[0];
  return { title: "", model: flowing?.id, settings: {}, status: "draft", progress: 0, shots: [], result: null };
}

// A board from the server into the editor (every card drawn again).
function edit(fresh) {
  board = { ...fresh, edited: !fresh.id, shots: fresh.shots.map(keyed) };
  editing.board = board;
  $("#board").hidden = false;
  $("#board-heading").textContent = fresh.id ? t("storyboard.heading") : t("storyboard.heading_new");
  Object.assign($("#board-title"), { value: board.title || "", translate: false });
  $("#board-delete").hidden = !board.id;
  delete $("#board-size").dataset.chosen;  // this board's size, not the one picked on another
  fillModels();
  $("#board-steps").value = board.settings.steps ?? "";
  $("#board-seed").value = board.settings.seed ?? "";
  for (const id of ["#board-model", "#board-size", "#board-steps", "#board-seed"]) $(id).disabled = Boolean(board.id);
  if (!board.shots.length) board.shots.push(newShot());
  drawShots();
  drawProgress();
  if (making()) follow();
}

function fillModels() {
  const select = $("#board-model");
  select.replaceChildren(...context.models.map((m) => {
    const option = new Option(m.capabilities.verbs?.continue ? t("storyboard.model_flows", { model: modelTitle(m) })
      : t("storyboard.model_separate", { model: modelTitle(m) }), m.id);
    option.disabled = !m.served || !m.weights_present;
    option.translate = false;  // a model's title is kept as it is
    return option;
  }));
  if (board.model) select.value = board.model;
  fitModel();
}

// The size, lengths and shot fields the chosen model offers, and what it does with a board.
function fitModel() {
  const m = boardModel();
  if (!m) return;
  const caps = m.capabilities;
  const verbs = caps.verbs || {};
  const named = () => ({ model: kept(m.id) });
  const lacks = !verbs.characters && !caps.image_input ? phrase("storyboard.lacks_both", named())
    : !verbs.characters ? phrase("storyboard.lacks_characters", named())
      : !caps.image_input ? phrase("storyboard.lacks_images", named()) : null;
  const sentences = [
    board.id && t("storyboard.settings_kept"),
    verbs.continue ? t("storyboard.continues") : phrase("storyboard.cannot_continue", named()),
    lacks,
  ].filter(Boolean);
  $("#board-model-info").replaceChildren(...sentences.flatMap((sentence, index) => (index ? [" ", sentence] : [sentence])));
  fillSizes($("#board-size"), caps, board.settings);
  $("#board-steps").placeholder = caps.default_steps;
}

function settings() {
  const chosen = { ...board.settings, size: $("#board-size").value };
  for (const [name, id] of [["steps", "#board-steps"], ["seed", "#board-seed"]]) {
    if ($(id).value === "") delete chosen[name];
    else chosen[name] = Number($(id).value);
  }
  return chosen;
}

$("#board-title").addEventListener("input", changed);
for (const id of ["#board-size", "#board-steps", "#board-seed"]) $(id).addEventListener("input", changed);
$("#board-size").addEventListener("change", (event) => { event.target.dataset.chosen = event.target.value; });
$("#board-model").addEventListener("change", () => {
  changed();
  fitModel();
  drawShots();  // the lengths, and whether shots take characters or images, follow the model
});

// ---- saving, making, following -----------------------------------------------------------------

// A shot as the API takes it: an existing one by id (its image is kept unless a new one is sent).
function shotBody(shot) {
  const body = { prompt: shot.prompt.trim(), seconds: shot.seconds, character: shot.character || null };
  if (shot.id) body.id = shot.id;
  if (shot.image) body.image = shot.image;
  return body;
}

// The model and settings are chosen when a board is first saved; later saves change its title and shots.
async function save() {
  const body = { title: $("#board-title").value.trim(), shots: board.shots.map(shotBody) };
  const saved = board.id
    ? await api(`/api/boards/${board.id}`, { method: "PATCH", json: body })
    : await api("/api/boards", { method: "POST", json: { ...body, model: $("#board-model").value, settings: settings() } });
  if (!board.id) history.replaceState(null, "", `/boards/${saved.id}`);
  edit(saved);
}

// The first thing to fix before making, named by the shot and field: [shot, field, message (nodes)].
function problem() {
  if (!boardModel()) return [0, ".shot-prompt", phrase("storyboard.model_missing", { model: kept(board.model) })];
  const empty = board.shots.findIndex((shot) => !shot.prompt.trim());
  if (empty >= 0) return [empty, ".shot-prompt", phrase("storyboard.prompt_missing", { number: empty + 1 })];
  const range = secondsRange(boardModel().capabilities);
  const wrong = board.shots.findIndex((shot) => !(shot.seconds >= range.min && shot.seconds <= range.max));
  if (wrong >= 0) {
    return [wrong, ".shot-seconds", phrase("storyboard.seconds_wrong",
      { number: wrong + 1, min: range.min, max: range.max, model: kept(boardModel().id) })];
  }
  return null;
}

$("#board-make").addEventListener("click", async () => {
  const wrong = problem();
  $("#board-error").replaceChildren(wrong ? wrong[2] : "");
  if (wrong) {
    $(wrong[1], $("#shots").children[wrong[0]]).focus();
    return;
  }
  const button = $("#board-make");
  button.disabled = true;
  try {
    if (board.edited) await save();
    edit(await api(`/api/boards/${board.id}/make`, { method: "POST" }));
  } catch (error) {
    showRefusal(error);
  } finally {
    button.disabled = making();
  }
});

// A refusal that names a shot's field ("shots.1.seconds: ...") is said of that shot, and its field focused.
function showRefusal(error) {
  const [, index, field] = /^shots\.(\d+)\.(\w+)$/.exec(error.param || "") || [];
  const card = index && $("#shots").children[Number(index)];
  if (!card) {
    $("#board-error").textContent = error.message;
    return;
  }
  $("#board-error").textContent = t("storyboard.shot_refused", { number: Number(index) + 1,
    field: FIELDS.includes(field) && has(`storyboard.field_${field}`) ? t(`storyboard.field_${field}`) : field,
    error: error.message.replace(`${error.param}: `, "") });
  ($(`.shot-${field}`, card) || $(".shot-prompt", card)).focus();
}

editing.regenerate = regenerate;
async function regenerate(shot, item) {
  try {
    const fresh = await api(`/api/boards/${board.id}/shots/${shot.id}/regenerate`, { method: "POST",
      json: { prompt: shot.prompt.trim(), seconds: shot.seconds } });
    refresh(fresh);
    follow();
  } catch (error) {
    $(".shot-error", item).textContent = error.message;
  }
}

$("#board-delete").addEventListener("click", async () => {
  if (!confirm(t("storyboard.confirm_delete"))) return;
  try {
    await api(`/api/boards/${board.id}`, { method: "DELETE" });
    context.go("/boards");
  } catch (error) {
    $("#board-error").textContent = error.message;
  }
});

function follow() {
  clearTimeout(poller);
  const id = board.id;
  poller = setTimeout(async () => {
    try {
      const fresh = await api(`/api/boards/${id}`);
      if (board?.id !== id || $("#board").hidden) return;
      refresh(fresh);
      if (making()) follow();
    } catch (error) {
      $("#board-error").textContent = error.message;
    }
  }, POLL_MS);
}

// Progress from the server into the cards in place, so a card being typed in keeps its focus.
function refresh(fresh) {
  const sameShots = fresh.shots.length === board.shots.length && fresh.shots.every((s, i) => s.id === board.shots[i].id);
  if (!sameShots) return edit(fresh);
  Object.assign(board, { status: fresh.status, progress: fresh.progress, result: fresh.result, error: fresh.error });
  fresh.shots.forEach((s, index) => {
    const shot = board.shots[index];
    Object.assign(shot, { video: s.video, status: s.status, progress: s.progress, error: s.error });
    showShot($(`#shots [data-key="${shot.key}"]`), shot, index);
  });
  for (const button of document.querySelectorAll("#shots .shot-moves button, #shot-add")) {
    if (making()) button.disabled = true;
  }
  if (!making()) drawShots();
  drawProgress();
}

function drawProgress() {
  const shown = board.status !== "draft";
  $("#board-progress").hidden = !shown;
  $("#board-make").disabled = making();
  $("#shot-add").disabled = making();
  const seconds = board.result?.seconds;
  $("#board-state").textContent = {
    making: () => t("storyboard.making", { progress: board.progress ?? 0 }),
    completed: () => (seconds ? t("storyboard.done_length", { count: board.shots.length, length: secondsText(seconds) })
      : t("storyboard.done", { count: board.shots.length })),
    failed: () => (board.error ? t("storyboard.failed", { error: board.error }) : t("storyboard.failed_shot")),
  }[board.status]?.() || board.status;
  $("#board-bar").value = board.status === "completed" ? 100 : board.progress ?? 0;
  const result = board.result?.status === "completed" ? board.result : null;
  $("#board-result").hidden = !result;
  if (!result) return;
  const player = $("#board-player");
  if (player.getAttribute("src") !== result.links.video) {
    Object.assign(player, { src: result.links.video, poster: result.links.thumbnail });
  }
  const share = new URL(result.links.share, location.origin).href;
  $("#board-share").href = share;
  $("#board-share").replaceChildren(phrase("storyboard.share_link", { link: kept(share) }));
  $("#board-open").href = result.links.share;
}
