"""The studio checked by axe-core (the accessibility engine behind Lighthouse and browsers' dev tools),
in Chromium: every view, in the dark and the light theme, and with each dialog open, for a signed-in
admin of a public server (who sees every view) and for a visitor. A violation of impact "serious" or
"critical" fails the test. axe-core comes from npm, pinned in tests/js (scripts/test-deps.sh runs
`npm ci` there); it is evaluated in the page by the DevTools protocol, which the page's CSP does not
govern, so the page runs under its real policy."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from .service import Server
from .test_web import browser  # noqa: F401 (a fixture)
from .test_web_community import PASSWORD, Community, until

AXE = Path(__file__).parent / "js" / "node_modules" / "axe-core" / "axe.min.js"
BLOCKING = ("serious", "critical")
# Run every rule axe has for WCAG 2.0-2.2 A and AA, and its best practices.
RUN = """async () => (await axe.run(document, {resultTypes: ["violations"],
  runOnly: {type: "tag", values: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa", "best-practice"]}}))
  .violations.map((v) => ({id: v.id, impact: v.impact, help: v.help,
    nodes: v.nodes.map((n) => ({target: n.target.join(" "), summary: n.failureSummary}))}))"""


@pytest.fixture(scope="module")
def axe_source() -> str:
    if not AXE.exists():
        pytest.fail("axe-core is not installed; run scripts/test-deps.sh (npm ci in tests/js)")
    return AXE.read_text()


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """A public server whose admin has something on every view: a clip (in the feed, their videos and
    favourites), a storyboard, a dataset and a training run (cancelled), an API key, an invite, a worker
    token; and a report of another's clip."""
    from ungated.train.demo_data import write_demo_dataset

    home = tmp_path_factory.mktemp("axe")
    running = Server(home, f"sqlite:///{home / 'store.db'}", extra=("--public",)).start()
    people = Community(running)
    admin = people.admin = people.join("Ada Admin", "admin")
    rae = people.join("Rae")
    small = {"size": "128x72", "fps": 8, "seconds": 1}  # quick to make
    people.video = people.clip(admin, "a large yellow star bouncing on a purple background", **small)
    people.other = people.clip(rae, "a small red circle moving left", **small)
    assert admin.put(f"/api/videos/{people.video['id']}/favourite").status_code < 300
    board = admin.post("/api/boards", json={"title": "The star's day",
                                            "shots": [{"prompt": "a star rises", "seconds": 2},
                                                      {"prompt": "a star sets", "seconds": 2}]})
    assert board.status_code < 300, board.text
    people.board = board.json()["id"]
    assert admin.post("/api/me/keys", json={"name": "laptop script"}).status_code == 201
    assert admin.post("/api/invites", json={"note": "for Nia"}).status_code == 201
    assert admin.post("/api/workers", json={"name": "mina-4090"}).is_success
    reported = rae.post(f"/api/videos/{people.video['id']}/reports", json={"reason": "spam", "note": "again"})
    assert reported.status_code == 201
    clips = write_demo_dataset(home / "clips", width=64, height=64, seconds=1, fps=8, scenes=["ball", "snow"])
    for path in sorted(clips.iterdir()):
        assert admin.put(f"/api/datasets/shots/files/{path.name}", content=path.read_bytes()).status_code < 300
    run = admin.post("/api/trainings", json={"name": "my-style", "dataset": "shots", "steps": 1000, "batch": 1,
                                             "sample_every": 0}).json()["id"]
    deadline = time.monotonic() + 60  # a few steps of loss curve, then cancelled: the queue is free again
    while len(admin.get(f"/api/trainings/{run}").json()["losses"]) < 2:
        assert time.monotonic() < deadline
        time.sleep(0.3)
    assert admin.post(f"/api/trainings/{run}/cancel").status_code < 300
    while admin.get(f"/api/trainings/{run}").json()["status"] != "cancelled":
        assert time.monotonic() < deadline
        time.sleep(0.3)
    yield people
    admin.close()
    rae.close()
    people.store.dispose()
    running.stop()


def open_themed(browser, base: str, theme: str, name: str | None = None):  # noqa: F811
    """A fresh browser (signed in as name when given) whose studio is in theme, chosen by the #theme button."""
    context = browser.new_context(base_url=base, viewport={"width": 1280, "height": 900}, color_scheme="dark")
    if name:
        assert context.request.post(f"{base}/api/session", data={"name": name, "password": PASSWORD}).ok
    page = context.new_page()
    page.goto("/")
    page.wait_for_selector("#model option", state="attached")
    for _ in range(2):
        if page.evaluate("document.documentElement.dataset.theme") == theme:
            break
        page.click("#theme")
    assert page.evaluate("[document.documentElement.dataset.theme, localStorage.getItem('ungated.theme')]") == [
        theme, theme]
    return page


class Auditor:
    def __init__(self, source: str, theme: str):
        self.source, self.theme, self.found, self.places = source, theme, [], 0

    def __call__(self, page, where: str) -> None:
        time.sleep(0.3)  # what the view draws after its data came: transitions, late lists
        if not page.evaluate("typeof axe !== 'undefined'"):
            page.evaluate(self.source)  # by the DevTools protocol: the page's CSP does not apply
        self.places += 1
        for violation in page.evaluate(RUN):
            if violation["impact"] in BLOCKING:
                for node in violation["nodes"]:
                    self.found.append(f"[{self.theme}] {where}: {violation['id']} ({violation['impact']}: "
                                      f"{violation['help']}) at {node['target']}\n    {node['summary']}")

    def report(self) -> str:
        return f"{len(self.found)} serious or critical violations in {self.places} places:\n" + "\n".join(self.found)


def visit(page, path: str, ready: str) -> None:
    page.goto(path)
    page.wait_for_selector("#model option", state="attached")
    page.wait_for_selector(ready, state="attached")


@pytest.mark.parametrize("theme", ["dark", "light"])
def test_every_view_and_dialog_passes_axe(browser, world, axe_source, theme):  # noqa: F811
    audit = Auditor(axe_source, theme)
    video, other = world.video["id"], world.other["id"]

    page = open_themed(browser, world.base, theme, "Ada Admin")
    views = {  # path: what shows once the view has its data
        "/": "#view-create:not([hidden]) #model option",
        "/feed": "#grid .card",
        "/me": "#grid .card",
        "/favourites": "#grid .card",
        f"/v/{video}": "#video-facts dd",
        "/boards": "#boards li",
        f"/boards/{world.board}": "#shots .shot",
        "/boards/new": "#shots .shot",
        "/train": "#runs li .loss:not([hidden])",
        "/account": "#keys li",
        "/workers": "#workers li",
        "/moderation": "#reports li",
        "/admin": "#members li",
    }
    for path, ready in views.items():
        visit(page, path, ready)
        audit(page, path)
        if path == "/":  # a clip made in the form, finished in the queue
            page.fill("#prompt", "a green square growing")
            page.click("summary")
            page.fill("#steps", "2")
            page.press("#prompt", "Control+Enter")
            page.wait_for_selector(".job .job-open:not([hidden])")
            audit(page, "/, a finished clip in the queue")
        if path == f"/v/{video}":  # the first tool of Direct, open
            page.locator("#direct-tools button:not([hidden])").first.click()
            page.wait_for_selector("#direct-form:not([hidden])")
            audit(page, f"{path}, its Direct form open")
    page.click("#member-button")  # the member's menu, open
    audit(page, "/admin, the member's menu open")
    page.click("#settings-open")
    page.wait_for_selector("#settings[open]")
    audit(page, "/admin, the settings dialog")
    page.keyboard.press("Escape")
    visit(page, f"/v/{other}", "#video-facts dd")
    page.click("#video-report")
    page.wait_for_selector("#report[open]")
    audit(page, f"/v/{other}, the report dialog")
    page.context.close()

    visitor = open_themed(browser, world.base, theme)  # signed out
    for path, ready in {"/": "#signin-open:not([hidden])", "/feed": "#grid .card",
                        f"/v/{video}": "#video-facts dd"}.items():
        visit(visitor, path, ready)
        audit(visitor, f"{path} (signed out)")
    visitor.click("#signin-open")
    visitor.wait_for_selector("#signin[open]")
    audit(visitor, "the sign-in dialog")
    visitor.click("#signin-switch")
    until(visitor, "!document.querySelector('#signin-invite-field').hidden")
    audit(visitor, "the sign-up dialog")
    visitor.context.close()

    print(audit.report())
    assert not audit.found, audit.report()
