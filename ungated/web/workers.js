// The GPU workers view (admins): make a token for a GPU owner, see what each worker does and how
// it has done, unpause one the server paused after refused results, revoke one.

import { $, api } from "./common.js";

const REFRESH_MS = 5000;
let refresher = null;

export async function showWorkers(me, models) {
  stopWorkers();
  if (!me.admin) {
    $("#workers-error").textContent = "Only an admin of this server manages its GPU workers.";
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
    label.append(input, ` ${model.title || model.id}`);
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
  if (!name) return fail("Give the worker a name, e.g. its owner's.");
  if (models && !models.length) return fail("Pick at least one model, or tick “Any model”.");
  try {
    const made = await api("/api/workers", { method: "POST", json: { name, models, untrusted: $("#worker-untrusted").checked } });
    $("#worker-secret-name").textContent = made.name;
    $("#worker-command").textContent = `ungated worker --server ${location.origin} --token ${made.secret}`;
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

$("#worker-copy").addEventListener("click", async () => {
  const button = $("#worker-copy");
  try {
    await navigator.clipboard.writeText($("#worker-command").textContent);
    button.textContent = "Copied";
  } catch {  // no clipboard (plain http from another machine): select it for Ctrl+C instead
    getSelection().selectAllChildren($("#worker-command"));
    button.textContent = "Selected: press Ctrl+C";
  }
  setTimeout(() => { button.textContent = "Copy the command"; }, 2500);
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
  const state = $(".worker-state", item);
  state.textContent = worker.state === "live" && worker.untrusted ? "live · untrusted" : worker.state;
  state.dataset.state = worker.state;
  $(".worker-activity", item).textContent = activity(worker);
  $(".worker-record", item).textContent = record(worker);
  const reasons = worker.state === "paused" ? (worker.pause_reason || "").split("\n").filter(Boolean) : [];
  $(".worker-reasons", item).replaceChildren(...reasons.map((reason) =>
    Object.assign(document.createElement("li"), { textContent: `Refused: ${reason}` })));
  const unpause = $(".worker-unpause", item);
  unpause.hidden = worker.state !== "paused";
  unpause.addEventListener("click", () => change(`/api/workers/${encodeURIComponent(worker.name)}/unpause`, "POST"));
  const revoke = $(".worker-revoke", item);
  revoke.hidden = worker.state === "revoked";
  revoke.addEventListener("click", () => {
    if (!confirm(`Revoke ${worker.name}? Its next call is refused and the job it runs goes back to the queue.`)) return;
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

function activity(worker) {
  if (worker.state === "revoked") return `Revoked ${ago(worker.revoked_at)}`;
  const running = worker.running.map((job) => `${job.id.startsWith("train") ? "training" : "making"} ${job.id} (${job.model}, ${job.progress}%)`);
  const connected = worker.connected === 1 ? "1 process connected" : `${worker.connected} processes connected`;
  if (running.length) return `${connected} · ${running.join(", ")}`;
  if (worker.connected) return `${connected} · waiting for work`;
  return worker.last_seen_at ? `Offline · last seen ${ago(worker.last_seen_at)}` : "Not connected yet";
}

function record(worker) {
  const models = worker.models ? worker.models.join(", ") : "any model";
  const speed = worker.seconds_per_step ? ` · ${worker.seconds_per_step.toFixed(2)} s a step` : "";
  return `${models} · ${worker.jobs_done} done, ${worker.jobs_failed} failed, ${worker.results_refused} refused${speed}`;
}

function ago(seconds) {
  const elapsed = Math.max(0, Date.now() / 1000 - seconds);
  if (elapsed < 60) return `${Math.round(elapsed)} s ago`;
  if (elapsed < 3600) return `${Math.round(elapsed / 60)} min ago`;
  if (elapsed < 86400) return `${Math.round(elapsed / 3600)} h ago`;
  return new Date(seconds * 1000).toLocaleDateString();
}
