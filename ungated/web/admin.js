// The admin view: the server's live figures (read again every few seconds while the view is open),
// its members (role, quota overrides, suspension), invite links (made, shown once, revoked) and
// the audit log. A moderator sees the members only, to suspend or reinstate one.

import { $, api, copyFrom, element, session } from "./common.js";
import { has, moment, number, t } from "./i18n.js";
import { joined, kept, listed, phrase } from "./phrases.js";
import { roleName } from "./session.js";

const REFRESH_MS = 5000;
const FIGURES = {
  queue_length: () => t("admin.figure_queue_length"), running_jobs: () => t("admin.figure_running_jobs"),
  clips_last_hour: () => t("admin.figure_clips_last_hour"), workers_connected: () => t("admin.figure_workers_connected"),
  members: () => t("admin.figure_members"), open_reports: () => t("admin.figure_open_reports"),
};
// A member's quota in words, each limit's value filled in: "clips a day 5".
const QUOTA_WORDS = {
  clips_per_day: (value) => t("admin.quota_clips_per_day", { value }),
  gpu_seconds_per_day: (value) => t("admin.quota_gpu_seconds_per_day", { value }),
  concurrent_jobs: (value) => t("admin.quota_concurrent_jobs", { value }),
  concurrent_trainings: (value) => t("admin.quota_concurrent_trainings", { value }),
};
// The quota fields' names, for what is wrong with one.
const LIMIT_NAMES = {
  clips_per_day: () => t("admin.limit_clips_per_day"), gpu_seconds_per_day: () => t("admin.limit_gpu_seconds_per_day"),
  concurrent_jobs: () => t("admin.limit_concurrent_jobs"), concurrent_trainings: () => t("admin.limit_concurrent_trainings"),
};
const ROLES = ["member", "moderator", "admin"];

// A role's choices say the role in words; their values stay the role's name.
function fillRoles(select) {
  const chosen = select.value;
  select.replaceChildren(...ROLES.map((role) => new Option(roleName(role), role)));
  select.value = ROLES.includes(chosen) ? chosen : "member";
}
fillRoles($("#invite-role"));
let poller = null;
let admin = false;
let auditBefore = null;
const names = new Map();  // member id -> name, for the audit log

export async function showAdmin(isAdmin) {
  stopAdmin();
  admin = isAdmin;
  for (const id of ["#figures", "#figures-error", "#invites-panel", "#audit-panel"]) $(id).hidden = !admin;
  $("#admin-title").textContent = admin ? t("admin.title_admin") : t("admin.title_members");
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
      const value = element("dd", figures[name] == null ? "–" : number(figures[name]));
      value.dataset.figure = name;
      pair.append(element("dt", label()), value);
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
  $(".member-name", item).translate = false;
  const state = $(".member-state", item);
  state.textContent = member.suspended ? t("admin.state_suspended") : roleName(member.role);
  state.dataset.state = member.suspended ? "paused" : member.role;
  const quota = member.quota && listed(Object.entries(QUOTA_WORDS).map(([name, words]) =>
    words(member.quota[name] == null ? t("admin.unlimited")
      : typeof member.quota[name] === "number" ? number(member.quota[name]) : String(member.quota[name]))));
  $(".member-meta", item).replaceChildren(joined([t("admin.member_joined", { moment: moment(member.created_at) }),
    self && t("admin.member_you"),
    member.suspended && (member.suspended_reason
      ? phrase("admin.member_suspended", { reason: kept(member.suspended_reason) }) : t("admin.member_suspended_no_reason")),
    quota && phrase("admin.member_quota", { quota })]));
  const fail = (error) => { $(".member-error", item).textContent = error.message; };
  const redraw = (changed) => item.replaceWith(memberItem(changed));

  const role = $(".member-role", item);
  fillRoles(role);
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
    input.placeholder = t("admin.quota_default");
  }
  $(".member-quota-save", item).addEventListener("click", async () => {
    const wanted = {};
    for (const input of item.querySelectorAll("[data-limit]")) {
      let value = input.value.trim().toLowerCase();
      if (value === t("admin.unlimited").toLowerCase()) value = "unlimited";  // as the reader writes it
      if (value !== "" && value !== "unlimited" && !/^\d+$/.test(value)) {
        return fail(new Error(t("admin.quota_invalid", { limit: LIMIT_NAMES[input.dataset.limit]?.() ?? input.dataset.limit,
          unlimited: t("admin.unlimited") })));
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
    if (!reason) return fail(new Error(t("admin.reason_needed")));
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
  if (invite.used >= invite.uses) return "used_up";
  if (invite.expires_at != null && invite.expires_at * 1000 <= Date.now()) return "expired";
  return "open";
}

const INVITE_STATES = {
  revoked: () => t("admin.invite_revoked"), used_up: () => t("admin.invite_used_up"),
  expired: () => t("admin.invite_expired"), open: () => t("admin.invite_open"),
};

function inviteItem(invite) {
  const item = $("#invite-template").content.firstElementChild.cloneNode(true);
  item.dataset.id = invite.id;
  const state = inviteState(invite);
  const note = $(".invite-note", item);
  note.textContent = invite.note || t("admin.invite_no_note");
  note.translate = !invite.note;  // what its maker wrote stays as written
  const badge = $(".invite-state", item);
  badge.textContent = INVITE_STATES[state]();
  badge.dataset.state = state === "open" ? "live" : "";
  $(".invite-meta", item).textContent = [t("admin.invite_as", { role: roleName(invite.role) }),
    t("admin.invite_sign_ups", { used: invite.used, count: invite.uses }),
    invite.expires_at ? t("admin.invite_expires", { moment: moment(invite.expires_at) }) : t("admin.invite_never_expires"),
    t("admin.invite_made", { moment: moment(invite.created_at) }),
  ].join(" · ");
  const revoke = $(".invite-revoke", item);
  revoke.hidden = state !== "open";
  revoke.addEventListener("click", async () => {
    if (!confirm(t("admin.invite_revoke_confirm"))) return;
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
    $("#invite-link").translate = false;
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

// What an entry says was done, as a sentence: "Ada Admin (mem_1) suspended mem_2 (Quinn)". Each
// action the server logs has its message (admin.audit_member_suspend); another is shown by its code.
function auditItem(entry) {
  const item = element("li");
  item.dataset.action = entry.action;  // the action's code ("member.suspend"), for scripts and tests
  const at = element("time", moment(entry.at));
  at.dateTime = new Date(entry.at * 1000).toISOString();
  const who = names.get(entry.actor) ? `${names.get(entry.actor)} (${entry.actor})` : entry.actor;
  const target = names.get(entry.target) ? `${entry.target} (${names.get(entry.target)})` : entry.target;
  const action = String(entry.action).replaceAll(".", "_");
  const what = element("span");
  const people = { actor: kept(who ?? ""), target: kept(target ?? "") };
  what.append(has(`admin.audit_${action}`) ? phrase(`admin.audit_${action}`, people)
    : phrase("admin.audit_other", { ...people, action: kept(entry.action) }));
  item.append(at, " ", what);
  const detail = entry.detail && Object.keys(entry.detail).length ? JSON.stringify(entry.detail) : "";
  if (detail) {
    const shown = element("p", detail, "hint audit-detail");
    shown.translate = false;  // the server's record as it is
    item.append(shown);
  }
  return item;
}

$("#audit-more").addEventListener("click", () => listAudit(true));
