// The train view: a dataset (a folder of clips uploaded file by file, or checked on this server),
// the model or LoRA to train on it and its settings; the runs themselves are in runs.js.

import { $, api } from "./common.js";
import { modelOption } from "./models.js";
import { listRuns, showRun } from "./runs.js";
import { MODELS_CHANGED, state } from "./state.js";

const NEW_DATASET = "";
const DATASET_FILE = /\.(mp4|mov|webm|mkv|m4v|gif|png|jpe?g|webp|txt)$|^metadata\.(jsonl|csv)$/i;

export async function showTrain() {
  if (!state.me.client) {
    $("#train-error").textContent = "This server is public: sign in (or add an API key in Settings, ⚙) to train.";
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
    m.id === "builtin" ? "Built-in model (trains on this computer, no GPU needed)" : `LoRA for ${m.title}`)));
  if (previous) select.value = previous;
  fitTrainControls();
}

function fitTrainControls() {
  const m = state.models.find((x) => x.id === $("#train-model").value);
  const defaults = m?.training_defaults || {};
  for (const el of document.querySelectorAll(".lora-only")) el.hidden = m?.id === "builtin";
  for (const el of document.querySelectorAll(".builtin-only")) el.hidden = m?.id !== "builtin";
  const trainedModels = state.models.filter((x) => x.id.startsWith("builtin/"));
  $("#train-init").replaceChildren(new Option("Nothing: train from scratch", ""),
    ...trainedModels.map((x) => new Option(`${x.title}: fine-tune it`, x.id)));
  for (const [id, name] of [["#train-steps", "steps"], ["#train-sample-every", "sample_every"], ["#train-lr", "learning_rate"],
    ["#train-batch", "batch"], ["#train-rank", "rank"], ["#train-resolution", "resolution"]]) {
    $(id).placeholder = defaults[name] ?? "";
  }
}

async function fillDatasets(chosen) {
  const { data } = await api("/api/datasets");
  const select = $("#train-dataset");
  select.replaceChildren(...data.map((d) => new Option(`${d.name} (${d.files} files)`, d.name)),
    new Option("New dataset: upload a folder…", NEW_DATASET));
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
  $("#dataset-report").textContent = "Checking the clips…";
  try {
    const report = await api(`/api/datasets/${encodeURIComponent(name)}`);
    if ($("#train-dataset").value !== name) return;
    const s = report.summary;
    $("#dataset-report").textContent = [`${s.clips} clip${s.clips === 1 ? "" : "s"}`,
      s.seconds_total ? `${s.seconds_total} s in all` : "", Object.keys(s.sizes).join(", "),
      s.problems ? `${s.problems} problem${s.problems === 1 ? "" : "s"} (those files are skipped)` : "no problems",
    ].filter(Boolean).join(" · ");
    $("#dataset-problems").replaceChildren(...report.problems.map((problem) => {
      const li = document.createElement("li");
      li.textContent = `${problem.path}: ${problem.what}`;
      return li;
    }));
    if (!$("#train-name").value) $("#train-name").value = name;
  } catch (error) {
    $("#dataset-report").textContent = error.message;
  }
}

// A chosen folder goes up file by file (no archive to build in the browser), into a dataset named after it.
async function uploadFolder(files) {
  const wanted = files.filter((f) => {
    const parts = f.webkitRelativePath.split("/").slice(1);
    return parts.length >= 1 && parts.length <= 2 && !parts.some((p) => p.startsWith(".")) && DATASET_FILE.test(parts.at(-1));
  });
  if (!wanted.length) {
    $("#upload-state").textContent = "That folder has no clips or captions (mp4, mov, webm, gif, images, .txt, metadata.jsonl).";
    return;
  }
  const folder = wanted[0].webkitRelativePath.split("/")[0];
  const name = folder.replace(/[^A-Za-z0-9_.-]+/g, "-").replace(/^[^A-Za-z0-9]+/, "").slice(0, 100) || "clips";
  const bar = $("#upload-progress");
  Object.assign(bar, { max: wanted.length, value: 0, hidden: false });
  try {
    for (const [index, file] of wanted.entries()) {
      $("#upload-state").textContent = `Uploading ${index + 1} of ${wanted.length}: ${file.name}`;
      const inside = file.webkitRelativePath.split("/").slice(1).map(encodeURIComponent).join("/");
      await api(`/api/datasets/${encodeURIComponent(name)}/files/${inside}`, { method: "PUT", file });
      bar.value = index + 1;
    }
    const skipped = files.length - wanted.length;
    $("#upload-state").textContent = `Uploaded ${wanted.length} files to dataset ${name}` +
      (skipped ? ` (${skipped} other files left out)` : "") + ".";
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
  if (!confirm(`Delete dataset ${name} and its files from this server? (Runs made from it keep what they made.)`)) return;
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
