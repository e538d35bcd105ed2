// The header's language and theme switches and the settings dialog (artist name, API key).

import { $, api, loadSession } from "./common.js";
import { language, languages, setLanguage } from "./i18n.js";
import { showHeader } from "./session.js";
import { state, whoKnown } from "./state.js";

// Each language named in itself ("한국어", "Français"), so a reader finds theirs whatever is shown.
const picker = $("#language");
for (const { code, name } of languages) picker.append(Object.assign(new Option(name, code), { lang: code }));
picker.value = language;
picker.addEventListener("change", () => setLanguage(picker.value));

function applyTheme(theme) {
  if (theme) document.documentElement.dataset.theme = theme;
}
applyTheme(localStorage.getItem("ungated.theme"));

$("#theme").addEventListener("click", () => {
  const dark = document.documentElement.dataset.theme
    ? document.documentElement.dataset.theme === "dark"
    : matchMedia("(prefers-color-scheme: dark)").matches;
  const theme = dark ? "light" : "dark";
  localStorage.setItem("ungated.theme", theme);
  applyTheme(theme);
});

$("#settings-open").addEventListener("click", async () => {
  await whoKnown;  // opened while the page loads: the artist name is not yet known, and saving would clear it
  $("#artist").value = state.me?.artist || "";
  $("#api-key").value = localStorage.getItem("ungated.key") || "";
  $("#settings-error").textContent = "";
  $("#settings").showModal();
});

$("#settings-save").addEventListener("click", async (event) => {
  event.preventDefault();
  const key = $("#api-key").value.trim();
  key ? localStorage.setItem("ungated.key", key) : localStorage.removeItem("ungated.key");
  try {
    [state.me] = await Promise.all([api("/api/me"), loadSession()]);
    if (state.me.client) state.me = await api("/api/me", { method: "PUT", json: { artist: $("#artist").value } });
    showHeader(state.me);
    $("#settings").close();
  } catch (error) {
    $("#settings-error").textContent = error.message;
  }
});
