// Moving between views without reloading: links marked data-nav (and cards, queue entries) push
// the path, and the router (app.js) shows what it names.

import { $ } from "./common.js";

let route = () => {};

/** The router that shows the view for location.pathname; app.js sets it. */
export function setRouter(router) {
  route = router;
  addEventListener("popstate", () => route());
  document.addEventListener("click", (event) => {
    const link = event.target.closest("a[data-nav], a.card-link, a.job-open");
    if (!link || event.ctrlKey || event.metaKey || event.shiftKey || event.button !== 0) return;
    event.preventDefault();
    go(link.getAttribute("href"));
  });
}

export function go(path) {
  history.pushState(null, "", path);
  route();
  // The focus goes to the view's heading (a screen reader says where one is now), else to main.
  const heading = [...document.querySelectorAll("main h1")].find((h1) => h1.getClientRects().length);
  if (heading) heading.tabIndex = -1;
  (heading || $("#main")).focus({ preventScroll: true });
  scrollTo(0, 0);
}
