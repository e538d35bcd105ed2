// Signing in, up and out: the header's Sign in button or the member's menu, and the dialog that
// signs a person in or up. An invite link (/join/CODE) opens it to sign up with the invite.

import { $, api, session } from "./common.js";
import { clearDraft } from "./draft.js";
import { moment, t } from "./i18n.js";

let mode = "signin";  // or "signup"

// ---- who is signed in ---------------------------------------------------------------------------

/** The caller's role (GET /api/me): a member's, the local user's (admin) or a server key's. */
export function roleOf(me) {
  return me?.role ?? session.member?.role ?? (me?.admin ? "admin" : me?.client ? "member" : "anonymous");
}

/** A role in words, in the reader's language: "member", "moderator", "admin". */
export function roleName(role) {
  return ["member", "moderator", "admin"].includes(role) ? t(`session.role_${role}`) : role;
}

export function isModerator(me) {
  return ["moderator", "admin"].includes(roleOf(me));
}

export function showHeader(me) {
  const member = session.member;
  $("#signin-open").hidden = Boolean(member) || !session.public_server;
  $("#member-menu").hidden = !member;
  $("#member-name").textContent = member?.name ?? "";
  $("#member-name").translate = false;
  for (const id of ["#nav-moderation", "#menu-moderation"]) $(id).hidden = !isModerator(me);
  for (const id of ["#nav-admin", "#menu-admin"]) $(id).hidden = roleOf(me) !== "admin";
}

export function openSignIn(as = "signin", invite = "") {
  mode = as;
  $("#signin-invite").value = invite;
  $("#signin-error").textContent = "";
  $("#signin-greeting").textContent = "";
  fitDialog();
  if (!$("#signin").open) $("#signin").showModal();
  if (invite) greet(invite);
}

function fitDialog() {
  const up = mode === "signup";
  $("#signin-title").textContent = up ? t("session.sign_up") : t("session.sign_in");
  $("#signin-submit").textContent = up ? t("session.sign_up") : t("session.sign_in");
  $("#signin-password").autocomplete = up ? "new-password" : "current-password";
  $("#signin-password-hint").textContent = up ? t("session.password_hint") : "";
  $("#signin-invite-field").hidden = !up || (session.signup === "open" && !$("#signin-invite").value);
  const signupClosed = session.signup === "closed";
  $("#signin-switch").hidden = !up && signupClosed;
  $("#signin-switch").textContent = up ? t("session.switch_to_sign_in")
    : session.signup === "open" ? t("session.switch_to_sign_up") : t("session.switch_to_sign_up_invited");
}

async function greet(code) {
  try {
    const invite = await api(`/api/invites/${encodeURIComponent(code)}`);
    // The role the invite gives, where it is more than a member's: "as a moderator".
    const role = ["moderator", "admin"].includes(invite.role) && t(`session.invite_role_${invite.role}`);
    const until = invite.expires_at && moment(invite.expires_at);
    $("#signin-greeting").textContent = !invite.valid ? t("session.invite_invalid")
      : role && until ? t("session.invited_as_until", { role, moment: until })
      : role ? t("session.invited_as", { role })
      : until ? t("session.invited_until", { moment: until }) : t("session.invited");
  } catch (error) {
    $("#signin-greeting").textContent = error.message;
  }
}

$("#signin-open").addEventListener("click", () => openSignIn("signin"));
$("#signin-close").addEventListener("click", () => $("#signin").close());
$("#signin-switch").addEventListener("click", () => {
  mode = mode === "signup" ? "signin" : "signup";
  $("#signin-error").textContent = "";
  fitDialog();
});

$("#signin-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const body = { name: $("#signin-name").value.trim(), password: $("#signin-password").value };
  if (!body.name || !body.password) {
    $("#signin-error").textContent = t("session.name_and_password_needed");
    return;
  }
  if (mode === "signup") body.invite = $("#signin-invite").value.trim() || null;
  const button = $("#signin-submit");
  button.disabled = true;
  try {
    await api(mode === "signup" ? "/api/members" : "/api/session", { method: "POST", json: body });
    // The member's own identity from now on, not a key kept from before; and a fresh start of
    // the page, since what it shows (queue, lists, views) depends on who asks.
    localStorage.removeItem("ungated.key");
    location.assign(location.pathname.startsWith("/join/") ? "/" : location.pathname + location.search);
  } catch (error) {
    $("#signin-error").textContent = error.message;
    button.disabled = false;
  }
});

$("#signout").addEventListener("click", async () => {
  try {
    await api("/api/session", { method: "DELETE" });
  } catch { /* the session had ended already: the cookie goes all the same */ }
  localStorage.removeItem("ungated.key");
  clearDraft();  // the next person at this browser does not see what was typed
  location.assign("/");
});

// The member's menu: opened by their name; closed by a choice in it, a click elsewhere or Escape.
function openMenu(open) {
  $("#member-links").hidden = !open;
  $("#member-button").setAttribute("aria-expanded", String(open));
}
$("#member-button").addEventListener("click", () => openMenu($("#member-links").hidden));
$("#member-links").addEventListener("click", (event) => event.target.closest("a") && openMenu(false));
document.addEventListener("click", (event) => !event.target.closest("#member-menu") && openMenu(false));
document.addEventListener("keydown", (event) => {
  if (event.key === "Escape" && !$("#member-links").hidden) {
    openMenu(false);
    $("#member-button").focus();
  }
});
