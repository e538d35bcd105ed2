// Loaded before the page is drawn, as a plain script (the studio's modules run only once the whole
// page is parsed and they have loaded): a submission of the create form made before then, by
// Ctrl+Enter in the prompt or a click, is kept (create.js sends it), not dropped or sent as a page load.
(() => {
  const root = document.documentElement;
  const early = () => root.dataset.studio !== "on";
  document.addEventListener("keydown", (event) => {
    if (early() && event.target.id === "prompt" && event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
      event.preventDefault();
      root.dataset.submitWanted = "1";
    }
  }, true);
  document.addEventListener("submit", (event) => {
    if (early() && event.target.id === "create") {
      event.preventDefault();
      root.dataset.submitWanted = "1";
    }
  }, true);
})();
