// The train view: a dataset (a folder of clips uploaded file by file, or checked on this server),
// the model or LoRA to train on it and its settings; the runs themselves are in runs.js.

import { $, api } from "./common.js";
import { has, list, number, seconds, t } from "./i18n.js";
import { modelOption, modelTitle } from "./models.js";
import { kept, phrase } from "./phrases.js";
import { listRuns, showRun } from "./runs.js";
import { MODELS_CHANGED, state } from "./state.js";

const NEW_DATASET = "";
const DATASET_FILE = /\.(mp4|mov|webm|mkv|m4v|gif|png|jpe?g|webp|txt)$|^metadata\.(jsonl|csv)$/i;

export async function showTrain() {
  if (!state.me.client) {
    $("#train-error").textContent = t("train.sign_in");
    return;
  }
  fillTrainModels();
  try {
    await fillDatasets($("#train-dataset").value || undefined);
    await listRuns();
  } catch (error) {
    $("#train-error").textContent = error.message;
  }
}

function fillTrainModels() {
  const select = $("#train-model");
  const previous = select.value;
  select.replaceChildren(...state.models.filter((m) => m.trainable).map((m) => modelOption(m,
    m.id === "builtin" ? t("train.builtin_option") : t("train.lora_option", { model: modelTitle(m) })))
    .map((option) => Object.assign(option, { translate: option.value === "builtin" })));  // a model's title is kept as it is
  if (previous) select.value = previous;
  fitTrainControls();
}

function fitTrainControls() {
  const m = state.models.find((x) => x.id === $("#train-model").value);
  const defaults = m?.training_defaults || {};
  for (const el of document.querySelectorAll(".lora-only")) el.hidden = m?.id === "builtin";
  for (const el of document.querySelectorAll(".builtin-only")) el.hidden = m?.id !== "builtin";
  const trainedModels = state.models.filter((x) => x.id.startsWith("builtin/"));
  // A trained model is titled with the name its artist gave it: its option is marked as a person's text.
  $("#train-init").replaceChildren(new Option(t("train.from_scratch"), ""),
    ...trainedModels.map((x) => Object.assign(new Option(t("train.fine_tune", { model: x.title }), x.id), { translate: false })));
  for (const [id, name] of [["#train-steps", "steps"], ["#train-sample-every", "sample_every"], ["#train-lr", "learning_rate"],
    ["#train-batch", "batch"], ["#train-rank", "rank"], ["#train-resolution", "resolution"]]) {
    $(id).placeholder = defaults[name] ?? "";
  }
}

async function fillDatasets(chosen) {
  const { data } = await api("/api/datasets");
  const select = $("#train-dataset");
  select.replaceChildren(...data.map((d) => Object.assign(  // a dataset's name, marked as a person's text
    new Option(t("train.dataset_option", { name: d.name, count: d.files }), d.name), { translate: false })),
  new Option(t("train.new_dataset"), NEW_DATASET));
  select.value = data.some((d) => d.name === chosen) ? chosen : data[0]?.name ?? NEW_DATASET;
  datasetChanged();
}

function datasetChanged() {
  const fresh = $("#train-dataset").value === NEW_DATASET;
  $("#dataset-upload").hidden = !fresh;
  $("#dataset-delete").hidden = fresh;
  $("#data-path-field").hidden = !(fresh && state.me?.admin);
  $("#dataset-report").textContent = "";
  $("#dataset-problems").replaceChildren();
  if (!fresh) checkDataset($("#train-dataset").value);
}

async function checkDataset(name) {
  $("#dataset-report").textContent = t("train.checking");
  try {
    const report = await api(`/api/datasets/${encodeURIComponent(name)}`);
    if ($("#train-dataset").value !== name) return;
    const s = report.summary;
    $("#dataset-report").textContent = [t("train.clips", { count: s.clips }),
      s.seconds_total ? t("train.seconds_total", { seconds: seconds(s.seconds_total) }) : "",
      Object.keys(s.sizes).length ? list(Object.keys(s.sizes), "unit") : "",
      s.problems ? t("train.problems", { count: s.problems }) : t("train.no_problems"),
    ].filter(Boolean).join(" · ");
    $("#dataset-problems").replaceChildren(...report.problems.map((problem) => {
      const li = document.createElement("li");
      li.append(phrase("train.problem", { what: problemText(problem), path: kept(problem.path) }));
      return li;
    }));
    if (!$("#train-name").value) $("#train-name").value = name;
  } catch (error) {
    $("#dataset-report").textContent = error.message;
  }
}

/** What is wrong with a dataset's file, by its code in the reader's language (names, sizes and the
 * error a file gave kept as they are); as the server says it where the catalog lacks the code. */
function problemText(problem) {
  if (!has(`train.problem_${problem.code}`)) return kept(problem.what);
  const values = Object.entries(problem.values || {}).map(([name, value]) => [name,
    name === "seconds" || (name === "least" && problem.code === "too_short") ? seconds(value)
      : typeof value === "number" ? number(value) : kept(String(value))]);
  return phrase(`train.problem_${problem.code}`, Object.fromEntries(values));
}

// A chosen folder goes up file by file (no archive to build in the browser), into a dataset named after it.
async function uploadFolder(files) {
  const wanted = files.filter((f) => {
    const parts = f.webkitRelativePath.split("/").slice(1);
    return parts.length >= 1 && parts.length <= 2 && !parts.some((p) => p.startsWith(".")) && DATASET_FILE.test(parts.at(-1));
  });
  if (!wanted.length) {
    $("#upload-state").replaceChildren(phrase("train.no_clips",
      { videos: kept("mp4, mov, webm, gif"), captions: kept(".txt, metadata.jsonl") }));
    return;
  }
  const folder = wanted[0].webkitRelativePath.split("/")[0];
  const name = folder.replace(/[^A-Za-z0-9_.-]+/g, "-").replace(/^[^A-Za-z0-9]+/, "").slice(0, 100) || "clips";
  const bar = $("#upload-progress");
  Object.assign(bar, { max: wanted.length, value: 0, hidden: false });
  try {
    for (const [index, file] of wanted.entries()) {
      $("#upload-state").replaceChildren(phrase("train.uploading",
        { index: index + 1, count: wanted.length, file: kept(file.name) }));
      const inside = file.webkitRelativePath.split("/").slice(1).map(encodeURIComponent).join("/");
      await api(`/api/datasets/${encodeURIComponent(name)}/files/${inside}`, { method: "PUT", file });
      bar.value = index + 1;
    }
    const skipped = files.length - wanted.length;
    $("#upload-state").replaceChildren(skipped
      ? phrase("train.uploaded_skipped",
        { count: wanted.length, skipped: t("train.skipped", { count: skipped }), name: kept(name) })
      : phrase("train.uploaded", { count: wanted.length, name: kept(name) }));
    await fillDatasets(name);
  } catch (error) {
    $("#upload-state").textContent = error.message;
  } finally {
    bar.hidden = true;
  }
}

$("#train-model").addEventListener("change", fitTrainControls);
$("#train-dataset").addEventListener("change", datasetChanged);
$("#dataset-delete").addEventListener("click", async () => {
  const name = $("#train-dataset").value;
  if (!confirm(t("train.confirm_delete_dataset", { name }))) return;
  try {
    await api(`/api/datasets/${encodeURIComponent(name)}`, { method: "DELETE" });
    await fillDatasets();
  } catch (error) {
    $("#train-error").textContent = error.message;
  }
});
$("#dataset-files").addEventListener("change", (event) => uploadFolder([...event.target.files]));

$("#train").addEventListener("submit", async (event) => {
  event.preventDefault();
  const body = { model: $("#train-model").value, name: $("#train-name").value.trim() };
  const dataset = $("#train-dataset").value;
  if (dataset !== NEW_DATASET) body.dataset = dataset;
  else if ($("#data-path").value.trim()) body.data_path = $("#data-path").value.trim();
  const numbers = { steps: "#train-steps", sample_every: "#train-sample-every", learning_rate: "#train-lr",
    batch: "#train-batch", rank: "#train-rank", resolution: "#train-resolution" };
  for (const [name, id] of Object.entries(numbers)) {
    if ($(id).value !== "" && !$(id).closest("[hidden]")) body[name] = Number($(id).value);
  }
  if ($("#train-prompt").value.trim()) body.sample_prompt = $("#train-prompt").value.trim();
  if ($("#train-init").value && !$("#init-field").hidden) body.init = $("#train-init").value;
  const button = $("#train-submit");
  button.disabled = true;
  try {
    const run = await api("/api/trainings", { method: "POST", json: body });
    $("#train-error").textContent = "";
    showRun(run, true);
  } catch (error) {
    $("#train-error").textContent = error.message;
  } finally {
    button.disabled = false;
  }
});

document.addEventListener(MODELS_CHANGED, fillTrainModels);
