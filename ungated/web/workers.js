// The GPU workers view (admins): make a token for a GPU owner, see what each worker does and how
// it has done, unpause one the server paused after refused results, revoke one.

import { $, api } from "./common.js";
import { language, t } from "./i18n.js";
import { modelTitle } from "./models.js";
import { joined, kept, listed, phrase } from "./phrases.js";

const REFRESH_MS = 5000;
let refresher = null;

export async function showWorkers(me, models) {
  stopWorkers();
  if (!me.admin) {
    $("#workers-error").textContent = t("workers.admin_only");
    return;
  }
  fillModelChoices(models);
  await listWorkers();
  refresher = setInterval(listWorkers, REFRESH_MS);
}

export function stopWorkers() {
  clearInterval(refresher);
  refresher = null;
}

function fillModelChoices(models) {
  const box = $("#worker-models");
  if (box.childElementCount) return;
  box.replaceChildren(...models.map((model) => {
    const label = Object.assign(document.createElement("label"), { className: "check" });
    const input = Object.assign(document.createElement("input"), { type: "checkbox", value: model.id });
    label.append(input, " ", kept(modelTitle(model)));  // a model's name, as it is
    return label;
  }));
}

$("#worker-any-model").addEventListener("change", (event) => {
  $("#worker-models").hidden = event.target.checked;
});

$("#worker-add").addEventListener("submit", async (event) => {
  event.preventDefault();
  const name = $("#worker-name").value.trim();
  const models = $("#worker-any-model").checked ? null
    : [...document.querySelectorAll("#worker-models input:checked")].map((input) => input.value);
  $("#worker-error").textContent = "";
  if (!name) return fail(t("workers.name_needed"));
  if (models && !models.length) return fail(t("workers.model_needed"));
  try {
    const made = await api("/api/workers", { method: "POST", json: { name, models, untrusted: $("#worker-untrusted").checked } });
    $("#worker-secret-name").textContent = made.name;
    $("#worker-command").textContent = `ungated worker --server ${location.origin} --token ${made.secret}`;
    for (const id of ["#worker-secret-name", "#worker-command"]) $(id).translate = false;
    $("#worker-secret").hidden = false;
    $("#worker-name").value = "";
    await listWorkers();
  } catch (error) {
    fail(error.message);
  }
});

function fail(message) {
  $("#worker-error").textContent = message;
}

const COPY_LABEL = $("#worker-copy").textContent;  // as the page says it, in the reader's language
$("#worker-copy").addEventListener("click", async () => {
  const button = $("#worker-copy");
  try {
    await navigator.clipboard.writeText($("#worker-command").textContent);
    button.textContent = t("common.copied");
  } catch {  // no clipboard (plain http from another machine): select it for Ctrl+C instead
    getSelection().selectAllChildren($("#worker-command"));
    button.textContent = t("common.selected");
  }
  setTimeout(() => { button.textContent = COPY_LABEL; }, 2500);
});

async function listWorkers() {
  try {
    const { data } = await api("/api/workers");
    $("#workers-error").textContent = "";
    $("#workers").replaceChildren(...data.reverse().map(workerItem));
    $("#workers-empty").hidden = data.length > 0;
  } catch (error) {
    $("#workers-error").textContent = error.message;
  }
}

function workerItem(worker) {
  const item = $("#worker-template").content.firstElementChild.cloneNode(true);
  item.dataset.name = worker.name;
  item.dataset.state = worker.state;
  $(".worker-name", item).textContent = worker.name;
  $(".worker-name", item).translate = false;
  const state = $(".worker-state", item);
  state.textContent = worker.state === "live" && worker.untrusted ? t("workers.state_live_untrusted")
    : STATES.includes(worker.state) ? t(`workers.state_${worker.state}`) : worker.state;
  state.dataset.state = worker.state;
  $(".worker-activity", item).replaceChildren(activity(worker));
  $(".worker-record", item).replaceChildren(record(worker));
  const reasons = worker.state === "paused" ? (worker.pause_reason || "").split("\n").filter(Boolean) : [];
  $(".worker-reasons", item).replaceChildren(...reasons.map((reason) => {
    const line = document.createElement("li");
    line.append(phrase("workers.refused", { reason: kept(reason) }));  // the server's check, as it said it
    return line;
  }));
  const unpause = $(".worker-unpause", item);
  unpause.hidden = worker.state !== "paused";
  unpause.addEventListener("click", () => change(`/api/workers/${encodeURIComponent(worker.name)}/unpause`, "POST"));
  const revoke = $(".worker-revoke", item);
  revoke.hidden = worker.state === "revoked";
  revoke.addEventListener("click", () => {
    if (!confirm(t("workers.revoke_confirm", { name: worker.name }))) return;
    change(`/api/workers/${encodeURIComponent(worker.name)}`, "DELETE");
  });
  return item;
}

async function change(path, method) {
  try {
    await api(path, { method });
  } catch (error) {
    $("#workers-error").textContent = error.message;
  }
  await listWorkers();
}

const STATES = ["live", "paused", "revoked"];

function activity(worker) {
  if (worker.state === "revoked") {
    const { ago, date } = since(worker.revoked_at);
    return ago ? t("workers.revoked_ago", { when: ago }) : t("workers.revoked_on", { date });
  }
  const running = worker.running.map((job) => {
    const said = { job: kept(job.id), model: kept(job.model), progress: job.progress };
    return job.id.startsWith("train") ? phrase("workers.job_training", said) : phrase("workers.job_making", said);
  });
  const connected = t("workers.connected", { count: worker.connected });
  if (running.length) return joined([connected, listed(running)]);
  if (worker.connected) return joined([connected, t("workers.waiting")]);
  if (!worker.last_seen_at) return t("workers.not_connected");
  const { ago, date } = since(worker.last_seen_at);
  return joined([t("workers.offline"), ago ? t("workers.seen_ago", { when: ago }) : t("workers.seen_on", { date })]);
}

function record(worker) {
  const models = worker.models ? kept(worker.models.join(", ")) : t("workers.any_model");
  const counts = t("workers.record", { done: worker.jobs_done, failed: worker.jobs_failed, refused: worker.results_refused });
  const speed = worker.seconds_per_step && t("workers.per_step", { time: new Intl.NumberFormat(language,
    { style: "unit", unit: "second", unitDisplay: "short", minimumFractionDigits: 2, maximumFractionDigits: 2 })
    .format(worker.seconds_per_step) });
  return joined([models, counts, speed]);
}

// When a moment was: how long ago ({ago: "5 min ago"}) within a day, else its date ({date}).
function since(seconds) {
  const elapsed = Math.max(0, Date.now() / 1000 - seconds);
  if (elapsed >= 86400) return { date: new Intl.DateTimeFormat(language, { dateStyle: "medium" }).format(seconds * 1000) };
  const [value, unit] = elapsed < 60 ? [Math.round(elapsed), "second"] : elapsed < 3600 ? [Math.round(elapsed / 60), "minute"]
    : [Math.round(elapsed / 3600), "hour"];
  return { ago: new Intl.RelativeTimeFormat(language, { style: "short", numeric: "always" }).format(-value, unit) };
}
