// The ungated web studio: plain modules on the studio API (/api), no build step, nothing fetched
// from elsewhere. Every user-supplied string is set as text (textContent), never as HTML.
// This module routes between the views and starts the studio: who is asking, then the models.
// Each view draws itself once what it needs is known (state.js), never from half-loaded state.

import { $, api, loadSession } from "./common.js";
import { showAccount } from "./account.js";
import { showAdmin, stopAdmin } from "./admin.js";
import { formReady, notReady } from "./create.js";
import { t } from "./i18n.js";
import { LISTS, showList, stopList } from "./lists.js";
import { showModeration } from "./moderation.js";
import { go, setRouter } from "./nav.js";
import { watchActive } from "./queue.js";
import { openSignIn, roleOf, showHeader } from "./session.js";
import "./settings.js";
import { markModelsKnown, markWhoKnown, modelsKnown, state, whoKnown } from "./state.js";
import { showBoards, stopBoards } from "./storyboard.js";
import { showTrain } from "./train.js";
import { showVideo, stopVideo } from "./video.js";
import { showWorkers, stopWorkers } from "./workers.js";

const PATHS = { "/feed": "feed", "/me": "mine", "/favourites": "favourites", "/train": "train", "/workers": "workers",
  "/boards": "boards", "/account": "account", "/moderation": "moderation", "/admin": "admin" };
const TITLES = { create: t("app.title_create"), video: t("app.title_video"), train: t("app.title_train"),
  workers: t("app.title_workers"), boards: t("app.title_boards"), account: t("app.title_account"),
  moderation: t("app.title_moderation"), admin: t("app.title_admin") };
const SECTIONS = ["create", "video", "train", "workers", "boards", "account", "moderation", "admin"];

let routed = 0;  // which route() call is current: a view drawn late (waiting for the models) is drawn only if still shown

async function route() {
  const call = ++routed;
  const path = location.pathname;
  const videoId = path.startsWith("/v/") ? decodeURIComponent(path.slice(3)) : null;
  const boardId = path.startsWith("/boards/") ? decodeURIComponent(path.slice(8)) : null;
  const view = videoId ? "video" : boardId ? "boards" : PATHS[path] || "create";
  for (const link of document.querySelectorAll("nav a")) {
    link.toggleAttribute("aria-current", link.dataset.view === view);
    if (link.dataset.view === view) link.setAttribute("aria-current", "page");
  }
  for (const name of SECTIONS) $(`#view-${name}`).hidden = view !== name;
  $("#view-list").hidden = !LISTS[view];
  document.title = t("app.title", { view: LISTS[view]?.title || TITLES[view] || TITLES.create });
  if (view !== "video") { $("#player").pause(); stopVideo(); }
  if (!LISTS[view]) stopList();
  if (view !== "workers") stopWorkers();
  if (view !== "admin") stopAdmin();
  if (view !== "boards") stopBoards();

  // A list and a video need to know who asks (their favourites, their own); the rest the models too.
  const draw = LISTS[view] ? () => showList(view) : {
    video: () => showVideo(videoId),
    train: () => showTrain(),
    workers: () => showWorkers(state.me, state.models),
    boards: () => showBoards(boardId, { me: state.me, models: state.models, go }),
    account: () => showAccount(state.me, state.models),
    moderation: () => showModeration(roleOf(state.me) === "admin"),
    admin: () => showAdmin(roleOf(state.me) === "admin"),
  }[view];
  if (!draw) return;
  await (LISTS[view] || view === "video" ? whoKnown : modelsKnown);
  if (call === routed) draw();
}

// A request the server could not answer yet (it is starting, or the network blinked) is tried
// again, more slowly each time; a refusal (4xx) is said and not tried again.
async function retrying(load) {
  for (let wait = 1000; ; wait = Math.min(wait * 2, 15000)) {
    try {
      return await load();
    } catch (error) {
      if (error.status && error.status < 500) throw error;
      notReady(error);
      await new Promise((resume) => setTimeout(resume, wait));
    }
  }
}

async function start() {
  setRouter(route);
  route();
  const who = retrying(() => Promise.all([api("/api/me"), loadSession()]));
  const offer = retrying(() => Promise.all([api("/api/models"), api("/api/loras")]));
  offer.catch(() => {});  // said below, once who is asking is known
  try {
    [state.me] = await who;
    showHeader(state.me);
    $("#nav-workers").hidden = !state.me.admin;
    markWhoKnown();
    if (location.pathname.startsWith("/join/")) openSignIn("signup", decodeURIComponent(location.pathname.slice(6)));
    if (state.me.client) watchActive().catch((error) => { $("#create-error").textContent = error.message; });
    [{ data: state.models }, { data: state.loras }] = await offer;
  } catch (error) {
    $("#create-error").textContent = error.message;
    return;
  }
  markModelsKnown();
  formReady();  // before anything awaiting the models goes on (a submission made meanwhile)
}
start();
