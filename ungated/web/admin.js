// The admin view: the server's live figures (read again every few seconds while the view is open),
// its members (role, quota overrides, suspension), invite links (made, shown once, revoked) and
// the audit log. A moderator sees the members only, to suspend or reinstate one.

import { $, api, copyFrom, element, session, when } from "./common.js";

const REFRESH_MS = 5000;
const FIGURES = {
  queue_length: "Queued", running_jobs: "Running", clips_last_hour: "Clips in the last hour",
  workers_connected: "Workers connected", members: "Members", open_reports: "Open reports",
};
const QUOTA_WORDS = { clips_per_day: "clips a day", gpu_seconds_per_day: "GPU-seconds a day",
  concurrent_jobs: "clips at once", concurrent_trainings: "trainings at once" };
let poller = null;
let admin = false;
let auditBefore = null;
const names = new Map();  // member id -> name, for the audit log

export async function showAdmin(isAdmin) {
  stopAdmin();
  admin = isAdmin;
  for (const id of ["#figures", "#figures-error", "#invites-panel", "#audit-panel"]) $(id).hidden = !admin;
  $("#admin-title").textContent = admin ? "Admin" : "Members";
  $("#view-admin .actions").hidden = !admin;
  await listMembers();
  if (!admin) return;
  await Promise.all([showFigures(), listInvites(), listAudit()]);
  poller = setInterval(showFigures, REFRESH_MS);
}

export function stopAdmin() {
  clearInterval(poller);
  poller = null;
}

async function showFigures() {
  try {
    const figures = await api("/api/admin/figures");
    $("#figures-error").textContent = "";
    $("#figures").replaceChildren(...Object.entries(FIGURES).map(([name, label]) => {
      const pair = element("div");  // shown with the number above its name
      const value = element("dd", String(figures[name] ?? "–"));
      value.dataset.figure = name;
      pair.append(element("dt", label), value);
      return pair;
    }));
  } catch (error) {
    $("#figures-error").textContent = error.message;
  }
}

// ---- members -----------------------------------------------------------------------------------

async function listMembers() {
  try {
    const { data } = await api("/api/members");
    $("#members-error").textContent = "";
    for (const member of data) names.set(member.id, member.name);
    $("#members").replaceChildren(...data.map(memberItem));
  } catch (error) {
    $("#members").replaceChildren();
    $("#members-error").textContent = error.message;
  }
}

function memberItem(member) {
  const item = $("#member-template").content.firstElementChild.cloneNode(true);
  item.dataset.id = member.id;
  item.dataset.name = member.name;
  const self = member.id === session.member?.id;
  $(".member-name", item).textContent = member.name;
  const state = $(".member-state", item);
  state.textContent = member.suspended ? "suspended" : member.role;
  state.dataset.state = member.suspended ? "paused" : member.role;
  const quota = member.quota && Object.entries(QUOTA_WORDS).map(([name, words]) =>
    `${words} ${member.quota[name] ?? "unlimited"}`).join(", ");
  $(".member-meta", item).textContent = [`joined ${when(member.created_at)}`, self && "you",
    member.suspended && `suspended: ${member.suspended_reason || "no reason given"}`, quota && `quota: ${quota}`]
    .filter(Boolean).join(" · ");
  const fail = (error) => { $(".member-error", item).textContent = error.message; };
  const redraw = (changed) => item.replaceWith(memberItem(changed));

  const role = $(".member-role", item);
  role.value = member.role;
  role.disabled = self;  // another admin changes an admin's own role
  $(".member-role-field", item).hidden = !admin;
  role.addEventListener("change", async () => {
    try {
      redraw(await api(`/api/members/${member.id}`, { method: "PATCH", json: { role: role.value } }));
    } catch (error) {
      role.value = member.role;
      fail(error);
    }
  });

  $(".member-quota", item).hidden = !admin;
  const overrides = member.quota_overrides || {};
  for (const input of item.querySelectorAll("[data-limit]")) {
    input.value = overrides[input.dataset.limit] ?? "";
    input.placeholder = "default";
  }
  $(".member-quota-save", item).addEventListener("click", async () => {
    const wanted = {};
    for (const input of item.querySelectorAll("[data-limit]")) {
      const value = input.value.trim().toLowerCase();
      if (value !== "" && value !== "unlimited" && !/^\d+$/.test(value)) {
        return fail(new Error(`${input.dataset.limit}: a whole number, "unlimited", or blank for the default`));
      }
      const limit = input.dataset.limit;
      if (value !== "") wanted[limit] = value === "unlimited" ? value : Number(value);
      else if (limit in overrides) wanted[limit] = null;  // back to the server's default
    }
    try {
      redraw(await api(`/api/members/${member.id}`, { method: "PATCH", json: { quota: wanted } }));
    } catch (error) {
      fail(error);
    }
  });

  $(".member-suspend-field", item).hidden = member.suspended || self;
  $(".member-suspend", item).addEventListener("click", async () => {
    const reason = $(".member-reason", item).value.trim();
    if (!reason) return fail(new Error("reason: say why (the member sees it)"));
    try {
      redraw(await api(`/api/members/${member.id}/suspend`, { method: "POST", json: { reason } }));
    } catch (error) {
      fail(error);
    }
  });
  const reinstate = $(".member-reinstate", item);
  reinstate.hidden = !member.suspended;
  reinstate.addEventListener("click", async () => {
    try {
      redraw(await api(`/api/members/${member.id}/reinstate`, { method: "POST" }));
    } catch (error) {
      fail(error);
    }
  });
  return item;
}

// ---- invites -----------------------------------------------------------------------------------

async function listInvites() {
  try {
    const { data } = await api("/api/invites");
    $("#invites").replaceChildren(...data.map(inviteItem));
    $("#invites-empty").hidden = data.length > 0;
  } catch (error) {
    $("#invite-error").textContent = error.message;
  }
}

function inviteState(invite) {
  if (invite.revoked) return "revoked";
  if (invite.used >= invite.uses) return "used up";
  if (invite.expires_at != null && invite.expires_at * 1000 <= Date.now()) return "expired";
  return "open";
}

function inviteItem(invite) {
  const item = $("#invite-template").content.firstElementChild.cloneNode(true);
  item.dataset.id = invite.id;
  const state = inviteState(invite);
  $(".invite-note", item).textContent = invite.note || "(no note)";
  const badge = $(".invite-state", item);
  badge.textContent = state;
  badge.dataset.state = state === "open" ? "live" : "";
  $(".invite-meta", item).textContent = [`as ${invite.role}`, `${invite.used} of ${invite.uses} sign-ups`,
    invite.expires_at ? `expires ${when(invite.expires_at)}` : "never expires", `made ${when(invite.created_at)}`,
  ].join(" · ");
  const revoke = $(".invite-revoke", item);
  revoke.hidden = state !== "open";
  revoke.addEventListener("click", async () => {
    if (!confirm("Revoke this invite? Its link stops working; who signed up with it stays a member.")) return;
    try {
      await api(`/api/invites/${encodeURIComponent(invite.id)}`, { method: "DELETE" });
    } catch (error) {
      $("#invite-error").textContent = error.message;
    }
    await listInvites();
  });
  return item;
}

$("#invite-add").addEventListener("submit", async (event) => {
  event.preventDefault();
  $("#invite-error").textContent = "";
  const expiry = $("#invite-expiry").value;
  const body = { uses: Number($("#invite-uses").value) || 1, expires_in_hours: expiry === "" ? null : Number(expiry),
    role: $("#invite-role").value, note: $("#invite-note").value.trim() };
  try {
    const made = await api("/api/invites", { method: "POST", json: body });
    $("#invite-link").textContent = new URL(made.url, location.origin).href;
    $("#invite-secret").hidden = false;
    $("#invite-note").value = "";
    await Promise.all([listInvites(), listAudit()]);
  } catch (error) {
    $("#invite-error").textContent = error.message;
  }
});

$("#invite-copy").addEventListener("click", (event) => copyFrom($("#invite-link"), event.currentTarget));

// ---- the audit log -----------------------------------------------------------------------------

async function listAudit(more = false) {
  try {
    const page = await api(`/api/admin/audit?limit=50${more && auditBefore ? `&before=${auditBefore}` : ""}`);
    $("#audit-error").textContent = "";
    if (!more) $("#audit").replaceChildren();
    $("#audit").append(...page.data.map(auditItem));
    auditBefore = page.data.at(-1)?.id ?? auditBefore;
    $("#audit-more").hidden = !page.has_more;
  } catch (error) {
    $("#audit-error").textContent = error.message;
  }
}

function auditItem(entry) {
  const item = element("li");
  item.dataset.action = entry.action;
  const moment = element("time", when(entry.at));
  moment.dateTime = new Date(entry.at * 1000).toISOString();
  const who = names.get(entry.actor) ? `${names.get(entry.actor)} (${entry.actor})` : entry.actor;
  const target = names.get(entry.target) ? `${entry.target} (${names.get(entry.target)})` : entry.target;
  item.append(moment, " ", element("span", `${who} · ${entry.action} · ${target}`));
  const detail = entry.detail && Object.keys(entry.detail).length ? JSON.stringify(entry.detail) : "";
  if (detail) item.append(element("p", detail, "hint audit-detail"));
  return item;
}

$("#audit-more").addEventListener("click", () => listAudit(true));
