// Signing in, up and out: the header's Sign in button or the member's menu, and the dialog that
// signs a person in or up. An invite link (/join/CODE) opens it to sign up with the invite.

import { $, api, session } from "./common.js";
import { clearDraft } from "./draft.js";
import { language, moment, t } from "./i18n.js";

let mode = "signin";  // or "signup"

// ---- sentences with people's words in them ----------------------------------------------------
// Text people wrote (a name, a note, a reason) goes in an element of its own marked translate="no",
// inside a translated sentence: phrase() fills a message's {placeholders} with such elements.

/** People's words (or an id, a command) in a <span translate="no"> of their own. */
export function kept(text) {
  const span = document.createElement("span");
  span.textContent = text;
  span.translate = false;
  return span;
}

const MARK = "\u0001";

/** The message for key as nodes: values that are nodes (kept(name), another phrase) go in where
 * their {placeholder} is; the others are filled as t() fills them. */
export function phrase(key, values = {}) {
  const nodes = [], plain = {};
  for (const [name, value] of Object.entries(values)) {
    if (value instanceof Node) {
      plain[name] = `${MARK}${nodes.length}${MARK}`;
      nodes.push(value);
    } else plain[name] = value;
  }
  return pieces(t(key, plain), nodes);
}

function pieces(text, nodes) {
  const made = document.createDocumentFragment();
  text.split(new RegExp(`${MARK}(\\d+)${MARK}`)).forEach((part, i) => {
    if (i % 2) made.append(nodes[Number(part)]);
    else if (part) made.append(part);
  });
  return made;
}

/** Facts on one line, each a text or nodes, between separators: "joined 12 Mar · you". */
export function joined(facts, separator = " · ") {
  const made = document.createDocumentFragment();
  facts.filter(Boolean).forEach((fact, i) => made.append(...(i ? [separator] : []), fact));
  return made;
}

/** Nodes (or texts) in a list as the reader's language writes one: "a, b and c" ("conjunction"),
 * "a, b or c" ("disjunction"), "a, b, c" ("unit"). */
export function listed(items, type = "unit") {
  const nodes = items.map((item) => (item instanceof Node ? item : document.createTextNode(String(item))));
  const parts = new Intl.ListFormat(language, { type }).formatToParts(nodes.map((_, i) => `${MARK}${i}${MARK}`));
  return pieces(parts.map((part) => part.value).join(""), nodes);
}

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
    const as = ["moderator", "admin"].includes(invite.role);
    const key = as ? (invite.expires_at ? "session.invited_as_until" : "session.invited_as")
      : invite.expires_at ? "session.invited_until" : "session.invited";
    $("#signin-greeting").textContent = invite.valid
      ? t(key, { role: as ? t(`session.invite_role_${invite.role}`) : "", moment: moment(invite.expires_at) })
      : t("session.invite_invalid");
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
