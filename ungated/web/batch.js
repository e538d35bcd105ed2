// Many videos at once, from the create form: prompts pasted one per line, or a CSV or JSONL file
// with a row per video (its own prompt, seconds, size, seed, model, negative_prompt), each made
// with the form's settings where its row says nothing (POST /api/batches, `defaults`). The server
// checks every row before it queues any; a refusal names the row and the field, and is shown here.
// The batch then shows as one group in the queue panel (groups.js). What is pasted is kept in this
// browser as it is typed (a reload loses nothing) until it is sent.

import { $, api, element } from "./common.js";
import { requestFields } from "./controls.js";
import { groupFor } from "./groups.js";
import { errorText, has, language, t } from "./i18n.js";
import "./ownqueue.js";
import { changed, watch } from "./queue.js";
import { modelsKnown } from "./state.js";

const KEPT = "ungated.draft.batch";
const COLUMNS = "prompt, seconds, size, seed, model, negative_prompt";

function field(tag, id, className = "") {
  const made = element(tag, "", className);
  made.id = id;
  return made;
}

// ---- the part of the form ------------------------------------------------------------------------

const part = element("details", "", "batch");
part.id = "batch";
const summary = element("summary", t("batch.open"));
const promptsLabel = element("label", t("batch.prompts_label"));
promptsLabel.htmlFor = "batch-prompts";
const box = field("textarea", "batch-prompts");
Object.assign(box, { rows: 6, spellcheck: true, translate: false });
box.setAttribute("aria-describedby", "batch-prompts-hint batch-error");
const promptsHint = element("p", t("batch.prompts_hint"), "hint");
promptsHint.id = "batch-prompts-hint";

const drop = element("div", "", "batch-drop");
const fileLabel = element("label", t("batch.file_label"));
fileLabel.htmlFor = "batch-file";
const picker = field("input", "batch-file");
Object.assign(picker, { type: "file", accept: ".csv,.jsonl,.json,.txt,text/csv,application/jsonl" });
picker.setAttribute("aria-describedby", "batch-columns");
const columns = element("p", "", "hint");
columns.id = "batch-columns";
const columnNames = element("code", COLUMNS);
columnNames.translate = false;
columns.append(element("span", t("batch.file_columns")), " ", columnNames);
const dropHint = element("p", t("batch.drop"), "hint");
drop.append(fileLabel, picker, columns, dropHint);

const chosenLine = element("p", "", "batch-chosen");
chosenLine.hidden = true;
const chosenName = element("span", "", "batch-file-name");
chosenName.translate = false;
const unchoose = element("button", t("batch.file_remove"));
unchoose.type = "button";
chosenLine.append(element("span", t("batch.file_chosen")), " ", chosenName, " ", unchoose);

const error = field("p", "batch-error", "error");
error.setAttribute("role", "alert");
const send = field("button", "batch-submit", "wide");
send.type = "button";

part.append(summary, promptsLabel, box, promptsHint, drop, chosenLine, error, send);
$("#submit").after(part);

// The form's own listeners (its draft, its plan) are not for these boxes.
for (const type of ["input", "change"]) part.addEventListener(type, (event) => event.stopPropagation());

// ---- what it holds -------------------------------------------------------------------------------

let chosen = null;  // the CSV or JSONL file chosen or dropped

const lines = () => box.value.split("\n").filter((line) => line.trim()).length;

function label() {
  send.textContent = chosen ? t("batch.submit_file") : t("batch.submit", { count: lines() });
}

function choose(file) {
  chosen = file || null;
  chosenName.textContent = chosen ? chosen.name : "";
  chosenLine.hidden = !chosen;
  box.disabled = Boolean(chosen);  // one way at a time: the file's rows, or the pasted prompts
  if (!chosen) picker.value = "";
  label();
}

box.addEventListener("input", () => {
  try { localStorage.setItem(KEPT, box.value); } catch { /* storage refused: the box still works */ }
  box.removeAttribute("aria-invalid");
  label();
});
picker.addEventListener("change", () => choose(picker.files[0]));
unchoose.addEventListener("click", () => { choose(null); box.focus(); });
for (const type of ["dragenter", "dragover"]) {
  part.addEventListener(type, (event) => {
    if (!event.dataTransfer?.types.includes("Files")) return;
    event.preventDefault();
    drop.classList.add("over");
  });
}
part.addEventListener("dragleave", (event) => { if (!part.contains(event.relatedTarget)) drop.classList.remove("over"); });
part.addEventListener("drop", (event) => {
  if (!event.dataTransfer?.files.length) return;
  event.preventDefault();
  drop.classList.remove("over");
  part.open = true;
  choose(event.dataTransfer.files[0]);
});
box.addEventListener("keydown", (event) => {
  if (event.key === "Enter" && (event.ctrlKey || event.metaKey) && !event.isComposing) {
    event.preventDefault();
    submit();
  }
});
send.addEventListener("click", () => submit());

// ---- sending -----------------------------------------------------------------------------------

/** A refusal as the reader should see it, naming the row (counted from 1) and the field once. The
 * server's English message does; in another language the row is said around the code's message,
 * which names the field. */
function refusal(problem) {
  const row = /^rows\.(\d+)(?:\.(.+))?$/.exec(problem.param || "");
  const shared = /^defaults\.(.+)$/.exec(problem.param || "");
  if (language === "en" || (!row && !shared) || !has(`errors.${problem.code}`)) return problem.message;
  const field = shared ? shared[1] : row[2];
  const message = field ? errorText({ code: problem.code, message: problem.serverMessage, param: field })
    : t("batch.row_unreadable");
  return shared ? t("batch.default_error", { message }) : t("batch.row_error", { row: String(Number(row[1]) + 1), message });
}

/** Select the pasted line a refusal names, so it is found at once. */
function pointAt(param) {
  const row = /^rows\.(\d+)/.exec(param || "");
  if (!row || chosen) return;
  const all = box.value.split("\n");
  const nonEmpty = all.map((line, index) => [line, index]).filter(([line]) => line.trim());
  const at = nonEmpty[Number(row[1])];
  if (!at) return;
  const start = all.slice(0, at[1]).reduce((sum, line) => sum + line.length + 1, 0);
  box.setAttribute("aria-invalid", "true");
  box.focus();
  box.setSelectionRange(start, start + at[0].length);
}

let sending = false;

async function submit() {
  if (sending) return;
  const text = box.value;
  if (!chosen && !text.trim()) {
    error.textContent = t("batch.empty");
    box.focus();
    return;
  }
  sending = true;
  send.disabled = true;
  const file = chosen;
  try {
    await modelsKnown;
    const defaults = requestFields();
    delete defaults.prompt;
    if (!$("#seed-lock").checked) delete defaults.seed;  // each row a seed of its own
    defaults.public = $("#public").checked;
    let made;
    if (file) {
      const body = new FormData();
      body.append("file", file);
      body.append("defaults", JSON.stringify(defaults));
      made = await api("/api/batches", { method: "POST", form: body });
    } else {
      made = await api("/api/batches", { method: "POST", json: { prompts: text, defaults } });
    }
    error.textContent = "";
    if (file) choose(null);
    else if (box.value === text) {  // sent: unless more was pasted meanwhile, the box empties
      box.value = "";
      try { localStorage.removeItem(KEPT); } catch { /* nothing kept */ }
    }
    label();
    const into = $(".group-jobs", groupFor(made.batch_id, made.total));
    for (const video of made.data) watch(video, false, into);
    changed();
  } catch (problem) {
    error.textContent = refusal(problem);
    pointAt(problem.param);
  } finally {
    sending = false;
    send.disabled = false;
  }
}

// What was pasted before a reload is back at once.
try { box.value = localStorage.getItem(KEPT) || ""; } catch { /* nothing kept */ }
if (box.value.trim()) part.open = true;
label();
