// The account view: what one may still make today (one's quota, used and left), and one's own API
// keys: make one (its secret shown once, with the openai client's code to use it), revoke one.

import { $, api, copyFrom, element, session } from "./common.js";
import { duration, moment, number, t } from "./i18n.js";
import { kept, phrase } from "./phrases.js";
import { roleName } from "./session.js";

const LIMITS = {
  clips_per_day: () => t("account.limit_clips_per_day"), gpu_seconds_per_day: () => t("account.limit_gpu_seconds_per_day"),
  concurrent_jobs: () => t("account.limit_concurrent_jobs"), concurrent_trainings: () => t("account.limit_concurrent_trainings"),
};
let snippetModel = "builtin";

export async function showAccount(me, models) {
  $("#key-secret").hidden = true;  // a secret is shown once, right after it is made
  $("#key-secret-value").textContent = $("#key-snippet").textContent = "";
  for (const id of ["#key-secret-name", "#key-secret-value", "#key-snippet"]) $(id).translate = false;
  snippetModel = models.find((m) => m.served && m.weights_present)?.id || snippetModel;
  $("#account-who").replaceChildren(session.member
    ? phrase("account.signed_in_as", { name: kept(session.member.name), role: roleName(session.member.role) })
    : me?.client === "local" ? t("account.local")
    : me?.client ? t("account.server_key") : t("account.signed_out"));
  await Promise.all([showQuota(), listKeys()]);
}

const amount = (n) => number(n, Number.isInteger(n) ? 0 : 1);

async function showQuota() {
  try {
    const quota = await api("/api/me/quota");
    $("#quota-error").textContent = "";
    $("#quota tbody").replaceChildren(...Object.entries(LIMITS).map(([name, words]) => {
      const limit = quota.limits[name], used = quota.used[name] ?? 0;
      const row = document.createElement("tr");
      row.dataset.limit = name;
      const head = element("th", words());
      head.scope = "row";
      row.append(head, element("td", limit == null ? amount(used) : t("account.used_of", { used: amount(used), limit: amount(limit) })),
        element("td", limit == null ? t("account.no_limit") : amount(Math.max(0, limit - used))));
      return row;
    }));
    const minutes = Math.ceil(Math.max(0, quota.resets_at - Date.now() / 1000) / 60);  // to the minute
    $("#quota-resets").textContent = t("account.quota_resets", { moment: moment(quota.resets_at), duration: duration(minutes * 60) });
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
  $(".key-name", item).translate = false;
  const state = $(".key-state", item);
  state.textContent = key.revoked ? t("account.key_revoked") : t("account.key_live");
  state.dataset.state = key.revoked ? "revoked" : "live";
  $(".key-meta", item).textContent = t("account.key_made", { moment: moment(key.created_at) });
  const revoke = $(".key-revoke", item);
  revoke.hidden = key.revoked;
  revoke.setAttribute("aria-label", t("account.key_revoke_label", { name: key.name }));
  revoke.addEventListener("click", async () => {
    if (!confirm(t("account.key_revoke_confirm", { name: key.name }))) return;
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
