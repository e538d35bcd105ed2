// Training runs as they go: progress, loss curve and samples followed live (Server-Sent Events, or
// polling where an API key is used), and what each made: files, and a model or LoRA to use at once.

import { $, api } from "./common.js";
import { useLora, useModel } from "./controls.js";
import { duration, locale, number, t } from "./i18n.js";
import { failure, kept, phrase } from "./phrases.js";
import { modelTitle } from "./models.js";
import { refreshModels, state } from "./state.js";

const following = new Map();  // run id -> its EventSource (or poller)

export async function listRuns() {
  const { data } = await api("/api/trainings");
  for (const source of following.values()) source.close();
  following.clear();
  $("#runs").replaceChildren();
  data.forEach((run) => showRun(run));
  $("#runs-empty").hidden = data.length > 0;
}

// What a run is doing, its facts apart by " · " (each one message): e.g. "Training · step 40 of 200 · loss 0.0123".
function describeRun(run) {
  const loss = run.losses.at(-1)?.[1];
  const facts = (...parts) => [...parts, loss != null && t("runs.loss", { loss: number(loss, 4) })].filter(Boolean).join(" · ");
  if (run.status === "queued") return t("runs.queued");
  if (run.status === "in_progress") {
    if (run.stage === "preparing") return t("runs.preparing");
    if (run.stage === "finishing") return facts(t("runs.finishing"));
    const eta = run.eta_seconds != null && t("runs.eta", { duration: duration(run.eta_seconds) });
    return [facts(t("runs.training"), t("runs.step", { step: run.step, steps: run.steps })), eta].filter(Boolean).join(" · ");
  }
  if (run.status === "completed") return facts(t("runs.done"), t("runs.steps", { count: run.steps }));
  if (run.status === "cancelled") return t("runs.cancelled", { step: run.step });
  return { failed: () => t("runs.failed"), deleted: () => t("runs.deleted") }[run.status]?.() || run.status;
}

function drawLoss(svg, losses) {
  svg.toggleAttribute("hidden", losses.length < 2);  // an SVG element has no .hidden property
  if (losses.length < 2) return;
  const values = losses.map(([, loss]) => loss);
  const low = Math.min(...values), high = Math.max(...values);
  const first = losses[0][0], last = losses.at(-1)[0];
  const points = losses.map(([step, loss]) =>
    `${((step - first) / Math.max(1, last - first) * 300).toFixed(1)},${(76 - (loss - low) / Math.max(1e-9, high - low) * 72).toFixed(1)}`);
  $("polyline", svg).setAttribute("points", points.join(" "));
  svg.setAttribute("aria-label", t("runs.loss_curve", { from: number(values[0], 4), first, to: number(values.at(-1), 4), last }));
}

function renderRun(item, run) {
  item.dataset.status = run.status;
  $(".run-state", item).textContent = describeRun(run);
  $("progress", item).value = run.progress;
  drawLoss($(".loss", item), run.losses);
  const sample = run.outputs?.find((o) => o.name.endsWith("sample.mp4"))?.url || run.samples.at(-1)?.url;
  const video = $(".sample", item);
  if (sample && video.getAttribute("src") !== sample) Object.assign(video, { src: sample, hidden: false });
  const finished = ["completed", "failed", "cancelled", "deleted"].includes(run.status);
  $(".run-error", item).replaceChildren(run.status === "failed" ? failure(run.error) : "");
  $(".run-cancel", item).hidden = finished;
  $(".run-resume", item).hidden = !["failed", "cancelled"].includes(run.status);
  $(".run-delete", item).hidden = !finished || run.status === "deleted";
  const use = $(".run-use", item);
  use.hidden = !(run.lora || run.model_id);
  use.onclick = () => (run.lora ? useLora(run) : useModel(run.model_id));
  $(".outputs", item).replaceChildren(...(run.outputs || []).map((output) => {
    const link = Object.assign(kept(output.name, "a"), { href: output.url, download: output.name.split("/").at(-1) });
    const li = document.createElement("li");
    li.append(phrase("runs.output", { size: fileSize(output.size_bytes), file: link }));
    return li;
  }), ...(run.model_path ? [commandLine(run.model_path)] : []));
}

function commandLine(modelPath) {
  const li = Object.assign(document.createElement("li"), { className: "hint" });
  const command = `ungated generate --model-path ${modelPath} "${t("runs.your_prompt")}"`;
  li.append(phrase("runs.command_line", { command: kept(command, "code") }));
  return li;
}

function fileSize(bytes) {
  const [value, unit, digits] = bytes < 2 ** 20 ? [Math.max(1, Math.round(bytes / 1024)), "kilobyte", 0]
    : [bytes / 2 ** 20, "megabyte", 1];
  return new Intl.NumberFormat(locale, { style: "unit", unit, unitDisplay: "short",
    minimumFractionDigits: digits, maximumFractionDigits: digits }).format(value);
}

export function showRun(run, fresh = false) {
  let item = $(`#runs li[data-id="${run.id}"]`);
  if (!item) {
    item = $("#run-template").content.firstElementChild.cloneNode(true);
    item.dataset.id = run.id;
    const model = state.models.find((m) => m.id === run.model);
    const title = model ? modelTitle(model) : run.model;
    const names = { name: kept(run.name), dataset: kept(run.dataset) };
    $(".run-name", item).replaceChildren(run.model === "builtin" ? phrase("runs.title_builtin", names)
      : phrase("runs.title_lora", { ...names, model: title }));
    $(".run-cancel", item).addEventListener("click", () => act(item, run.id, "cancel"));
    $(".run-resume", item).addEventListener("click", () => act(item, run.id, "resume"));
    $(".run-delete", item).addEventListener("click", async () => {
      if (!confirm(t("runs.confirm_delete"))) return;
      await api(`/api/trainings/${run.id}`, { method: "DELETE" });
      item.remove();
    });
    fresh ? $("#runs").prepend(item) : $("#runs").append(item);
    $("#runs-empty").hidden = true;
  }
  renderRun(item, run);
  if (!["completed", "failed", "cancelled"].includes(run.status)) followRun(item, run);
}

async function act(item, id, action) {
  try {
    showRun(await api(`/api/trainings/${id}/${action}`, { method: "POST" }));
  } catch (error) {
    $(".run-error", item).textContent = error.message;
  }
}

function followRun(item, run) {
  if (following.has(run.id)) return;
  const source = new EventSource(`/api/trainings/${run.id}/events`);
  const update = async (event) => {
    renderRun(item, { ...run, ...JSON.parse(event.data) });
    if (event.type !== "done") return;
    source.close();
    following.delete(run.id);
    try {
      const finished = await api(`/api/trainings/${run.id}`);
      renderRun(item, finished);
      if (finished.model_id) await refreshModels();  // offer the new model in both forms
    } catch { /* deleted meanwhile */ }
  };
  source.addEventListener("progress", update);
  source.addEventListener("done", update);
  source.addEventListener("error", () => {
    // Closed for good (not reconnecting): refused, as for a studio that uses an API key, which an
    // EventSource cannot send. Follow the run by polling with the key instead.
    if (source.readyState === EventSource.CLOSED) following.set(run.id, pollRun(item, run.id));
  });
  following.set(run.id, source);
}

function pollRun(item, id) {
  let timer;
  const poll = async () => {
    try {
      const run = await api(`/api/trainings/${id}`);
      renderRun(item, run);
      if (["completed", "failed", "cancelled"].includes(run.status)) {
        following.delete(id);
        if (run.model_id) await refreshModels();
        return;
      }
    } catch { following.delete(id); return; }  // deleted meanwhile
    timer = setTimeout(poll, 3000);
  };
  poll();
  return { close: () => clearTimeout(timer) };
}
