// The list of one's storyboards (/boards): each with its title, length, state and model, and the
// stitched clip's picture once there is one.

import { $, api } from "./common.js";
import { seconds as secondsText, t } from "./i18n.js";
import { kept, phrase } from "./phrases.js";

const BOARD_STATES = ["draft", "making", "completed", "failed"];  // each with its storyboard.state_* message

export async function listBoards() {
  try {
    const { data } = await api("/api/boards");
    $("#boards").replaceChildren(...data.map((b) => {
      const item = document.createElement("li");
      item.className = "job";
      const link = Object.assign(document.createElement("a"), { href: `/boards/${b.id}`,
        className: "job-prompt", textContent: b.title || t("storyboard.untitled"), translate: !b.title });
      link.dataset.nav = "";
      const seconds = b.shots.reduce((sum, shot) => sum + (shot.seconds || 0), 0);
      const state = BOARD_STATES.includes(b.status) ? t(`storyboard.state_${b.status}`) : b.status;
      const meta = Object.assign(document.createElement("p"), { className: "hint" });
      meta.append(phrase("storyboard.summary",
        { count: b.shots.length, length: secondsText(seconds), state, model: kept(b.model) }));
      const body = document.createElement("div");
      body.className = "job-body";
      body.append(link, meta);
      if (b.result?.links.thumbnail) {
        item.append(Object.assign(document.createElement("img"), { className: "preview", alt: "", src: b.result.links.thumbnail }));
      }
      item.append(body);
      return item;
    }));
    $("#boards-empty").hidden = data.length > 0;
    $("#boards-error").textContent = "";
  } catch (error) {
    $("#boards-error").textContent = error.message;
  }
}
