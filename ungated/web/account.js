// The account view: what one may still make today (one's quota, used and left), and one's own API
// keys: make one (its secret shown once, with the openai client's code to use it), revoke one.

import { $, api, copyFrom, element, session, when } from "./common.js";

const LIMITS = {
  clips_per_day: "Clips a day", gpu_seconds_per_day: "GPU-seconds a day",
  concurrent_jobs: "Clips queued or running at once", concurrent_trainings: "Training runs at once",
};
let snippetModel = "builtin";

export async function showAccount(me, models) {
  $("#key-secret").hidden = true;  // a secret is shown once, right after it is made
  $("#key-secret-value").textContent = $("#key-snippet").textContent = "";
  snippetModel = models.find((m) => m.served && m.weights_present)?.id || snippetModel;
  $("#account-who").textContent = session.member
    ? `Signed in as ${session.member.name} (${session.member.role}).`
    : me?.client === "local" ? "This server runs for you alone: no sign-in, no limits."
    : me?.client ? "You use a key made for this server on its command line." : "You are not signed in.";
  await Promise.all([showQuota(), listKeys()]);
}

const number = (n) => (Number.isInteger(n) ? String(n) : n.toFixed(1));

async function showQuota() {
  try {
    const quota = await api("/api/me/quota");
    $("#quota-error").textContent = "";
    $("#quota tbody").replaceChildren(...Object.entries(LIMITS).map(([name, label]) => {
      const limit = quota.limits[name], used = quota.used[name] ?? 0;
      const row = document.createElement("tr");
      row.dataset.limit = name;
      const head = element("th", label);
      head.scope = "row";
      row.append(head, element("td", limit == null ? number(used) : `${number(used)} of ${limit}`),
        element("td", limit == null ? "no limit" : number(Math.max(0, limit - used))));
      return row;
    }));
    const hours = Math.max(0, (quota.resets_at - Date.now() / 1000) / 3600);
    $("#quota-resets").textContent = `The day's counts start again at ${when(quota.resets_at)} ` +
      `(in ${hours < 1 ? `${Math.ceil(hours * 60)} min` : `${hours.toFixed(1)} h`}).`;
  } catch (error) {
    $("#quota tbody").replaceChildren();
    $("#quota-error").textContent = error.message;
  }
}

async function listKeys() {
  try {
    const { data } = await api("/api/me/keys");
    $("#keys").replaceChildren(...data.reverse().map(keyItem));  // newest first
    $("#keys-empty").hidden = data.length > 0;
    $("#key-add button").disabled = false;
  } catch (error) {  // not a member: keys for the whole server are made on the command line
    $("#keys").replaceChildren();
    $("#keys-empty").hidden = true;
    $("#key-error").textContent = error.message;
    $("#key-add button").disabled = true;
  }
}

function keyItem(key) {
  const item = $("#key-template").content.firstElementChild.cloneNode(true);
  item.dataset.id = key.id;
  $(".key-name", item).textContent = key.name;
  const state = $(".key-state", item);
  state.textContent = key.revoked ? "revoked" : "live";
  state.dataset.state = key.revoked ? "revoked" : "live";
  $(".key-meta", item).textContent = `made ${when(key.created_at)}`;
  const revoke = $(".key-revoke", item);
  revoke.hidden = key.revoked;
  revoke.setAttribute("aria-label", `Revoke the key ${key.name}`);
  revoke.addEventListener("click", async () => {
    if (!confirm(`Revoke the key ${key.name}? Whatever uses it stops working at once.`)) return;
    try {
      await api(`/api/me/keys/${encodeURIComponent(key.id)}`, { method: "DELETE" });
    } catch (error) {
      $("#key-error").textContent = error.message;
    }
    await listKeys();
  });
  return item;
}

$("#key-add").addEventListener("submit", async (event) => {
  event.preventDefault();
  $("#key-error").textContent = "";
  try {
    const made = await api("/api/me/keys", { method: "POST", json: { name: $("#key-name").value.trim() || "key" } });
    $("#key-secret-name").textContent = made.name;
    $("#key-secret-value").textContent = made.secret;
    $("#key-snippet").textContent = [
      "from openai import OpenAI",
      "",
      `client = OpenAI(base_url="${location.origin}/v1", api_key="${made.secret}")`,
      `video = client.videos.create(model="${snippetModel}", prompt="a red ball bouncing on a blue floor")`,
      "print(video.id, video.status)",
    ].join("\n");
    $("#key-secret").hidden = false;
    $("#key-name").value = "";
    await listKeys();
  } catch (error) {
    $("#key-error").textContent = error.message;
  }
});

$("#key-copy").addEventListener("click", (event) => copyFrom($("#key-secret-value"), event.currentTarget));
$("#key-snippet-copy").addEventListener("click", (event) => copyFrom($("#key-snippet"), event.currentTarget));
