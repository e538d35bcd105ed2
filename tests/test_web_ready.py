"""Nothing typed is lost: Ctrl+Enter the instant the page appears on a just-started server (before
the studio's modules have run, or before /api/models has answered) makes one clip, and a draft of
the create form survives a reload until it is sent. And the studio stays a set of small modules,
each fetched at once."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import pytest

from .service import Server
from .test_web import browser, job_for, until  # noqa: F401 (browser is a fixture)

WEB = Path(__file__).resolve().parents[1] / "ungated" / "web"


@pytest.fixture
def cold(tmp_path):
    """A server just started: nothing has asked it anything yet but whether it answers."""
    server = Server(tmp_path, f"sqlite:///{tmp_path / 'store.db'}").start()
    yield server
    server.stop()


@pytest.fixture
def context(browser, cold):  # noqa: F811
    context = browser.new_context(base_url=cold.base, viewport={"width": 1280, "height": 900})
    context.problems = []
    yield context
    context.close()
    assert not context.problems, context.problems


def open_page(context):
    page = context.new_page()
    page.on("pageerror", lambda error: context.problems.append(str(error)))
    page.on("console", lambda message: message.type == "error" and context.problems.append(message.text))
    return page


def videos(server) -> list[dict]:
    return httpx.get(f"{server.base}/api/me/videos").json()["data"]


class Held(list):
    """Requests for pattern, held (not answered) until released."""

    def __init__(self, context, pattern: str):
        super().__init__()
        self.context, self.pattern = context, pattern
        context.route(pattern, self.hold)

    def hold(self, route) -> None:
        self.append(route)

    def asked(self, page, timeout_s: float = 30) -> None:
        """Wait until the page has asked (its request is being held)."""
        for _ in range(int(timeout_s * 10)):
            if self:
                return
            page.wait_for_timeout(100)
        raise AssertionError(f"nothing asked for {self.pattern}")

    def release(self) -> None:
        for route in self:
            route.continue_()
        self.context.unroute(self.pattern, self.hold)


def test_ctrl_enter_before_the_models_load_makes_one_clip(context, cold):
    held = Held(context, "**/api/models")
    page = open_page(context)
    page.goto("/", wait_until="commit")
    page.wait_for_selector("#prompt")
    page.fill("#prompt", "a yellow star, sent before the models loaded")
    page.press("#prompt", "Control+Enter")
    page.press("#prompt", "Control+Enter")  # pressed again while it waits: still one video
    until(page, "document.querySelector('#plan').textContent.includes('Sends as soon as the models have loaded')")
    until(page, "document.querySelector('#create').getAttribute('aria-busy') === 'true'")
    assert held and videos(cold) == []  # /api/models is asked, not answered: nothing sent yet, nothing dropped

    held.release()
    job = job_for(page, "a yellow star, sent before")
    job.locator(".job-state").filter(has_text="Done").wait_for(timeout=120000)
    made = videos(cold)
    assert [v["prompt"] for v in made] == ["a yellow star, sent before the models loaded"], made
    assert httpx.get(cold.base + made[0]["links"]["video"]).status_code == 200  # a clip
    assert page.evaluate("localStorage.getItem('ungated.draft')") is None  # sent: the draft is gone


def test_ctrl_enter_before_the_studio_runs_is_kept_and_sent(context, cold):
    held = Held(context, "**/static/app.js")  # the studio's modules cannot run yet
    page = open_page(context)
    page.goto("/", wait_until="commit")
    page.wait_for_selector("#prompt")
    page.fill("#prompt", "a red circle, sent before the studio ran")
    page.press("#prompt", "Control+Enter")
    page.click("#submit")  # a click is kept too, never sent as a page load (?prompt=...)
    until(page, "document.documentElement.dataset.submitWanted === '1'")
    assert held and videos(cold) == []

    held.release()
    job_for(page, "a red circle, sent before")
    until(page, "document.documentElement.dataset.studio === 'on'")
    assert page.url.rstrip("/") == cold.base  # not sent as a page load
    assert page.input_value("#prompt") == "a red circle, sent before the studio ran"
    assert [v["prompt"] for v in videos(cold)] == ["a red circle, sent before the studio ran"]


def test_a_draft_survives_a_reload_until_it_is_sent(context, cold):
    page = open_page(context)
    page.goto("/")
    page.wait_for_selector("#model option", state="attached")
    page.fill("#prompt", "a draft: a blue whale singing")
    page.select_option("#variants", "2")
    page.click("summary")
    page.fill("#negative", "blurry")
    page.fill("#steps", "4")
    page.fill("#seed", "42")
    page.check("#seed-lock")
    page.uncheck("#public")
    longest = page.evaluate("document.querySelector('#seconds').max")
    page.fill("#seconds", longest)

    page.reload()
    page.wait_for_selector("#model option", state="attached")
    assert page.input_value("#prompt") == "a draft: a blue whale singing"
    assert [page.input_value(box) for box in ("#variants", "#negative", "#steps")] == ["2", "blurry", "4"]
    assert page.input_value("#seed") == "42" and page.is_checked("#seed-lock") and not page.is_checked("#public")
    assert float(page.input_value("#seconds")) == pytest.approx(float(longest))

    # Typed while the page loads again: kept, and newer than the draft.
    held = Held(context, "**/api/models")
    page.reload(wait_until="commit")
    page.wait_for_selector("#prompt")
    until(page, "document.querySelector('#prompt').value === 'a draft: a blue whale singing'")
    page.fill("#prompt", "a draft: a blue whale, edited while loading")
    until(page, "document.querySelector('#create').getAttribute('aria-busy') === 'true'")
    held.release()
    page.wait_for_selector("#model option", state="attached")
    assert page.input_value("#prompt") == "a draft: a blue whale, edited while loading"
    assert page.input_value("#steps") == "4"

    page.select_option("#variants", "1")
    page.press("#prompt", "Control+Enter")
    job_for(page, "edited while loading")
    made = videos(cold)
    assert len(made) == 1 and (made[0]["seed"], made[0]["request"]["steps"], made[0]["public"]) == (42, 4, False)
    until(page, "localStorage.getItem('ungated.draft') === null")
    page.reload()
    page.wait_for_selector("#model option", state="attached")
    assert page.input_value("#prompt") == ""


def test_a_video_page_and_a_storyboard_offer_their_buttons_once_drawn(context, cold):
    """A click that comes before the page has its video (or board) is not taken by a button acting
    on nothing, or on the one shown before."""
    made = [httpx.post(f"{cold.base}/api/videos", json={"prompt": f"clip {n}", "steps": 2}).json()["data"][0]
            for n in (1, 2)]
    page = open_page(context)
    page.goto(f"/v/{made[0]['id']}")
    page.wait_for_selector("#copy-link")
    assert page.inner_text("#video-title") == "clip 1"

    held = Held(context, f"**/api/videos/{made[1]['id']}")
    page.evaluate(f"document.querySelector('#video-facts').insertAdjacentHTML('beforeend', "
                  f"'<a id=next href=/v/{made[1]['id']} data-nav>next</a>')")
    page.click("#next")  # in the page, as the studio's own links go
    held.asked(page)
    assert page.is_hidden("#copy-link") and page.is_hidden("#remix") and page.inner_text("#video-title") == ""
    held.release()
    page.wait_for_selector("#copy-link")
    assert page.inner_text("#video-title") == "clip 2"

    boards = [httpx.post(f"{cold.base}/api/boards", json={"title": title, "model": "builtin", "shots": [
        {"prompt": "a red circle", "seconds": 2}]}).json() for title in ("First", "Second")]
    page.goto(f"/boards/{boards[0]['id']}")
    page.wait_for_selector("#board-make")
    held = Held(context, f"**/api/boards/{boards[1]['id']}")
    page.goto(f"/boards/{boards[1]['id']}")
    held.asked(page)
    assert page.is_hidden("#board-make") and page.is_hidden("#shot-add")
    held.release()
    page.wait_for_selector("#board-make")
    assert page.input_value("#board-title") == "Second"


def test_settings_opened_while_the_page_loads_keep_the_artist_name(context, cold):
    page = open_page(context)
    page.goto("/")
    page.click("#settings-open")
    page.fill("#artist", "Ada Lovelace")
    page.click("#settings-save")
    until(page, "!document.querySelector('#settings').open")

    held = Held(context, "**/api/me")
    page.reload()
    held.asked(page)
    page.click("#settings-open")  # who this is is not known yet: the dialog waits for it
    page.wait_for_timeout(300)
    assert not page.evaluate("document.querySelector('#settings').open")
    held.release()
    until(page, "document.querySelector('#settings').open")
    assert page.input_value("#artist") == "Ada Lovelace"
    page.click("#settings-save")
    until(page, "!document.querySelector('#settings').open")
    page.reload()
    page.click("#settings-open")
    until(page, "document.querySelector('#settings').open")
    assert page.input_value("#artist") == "Ada Lovelace"


def modules() -> dict[str, str]:
    return {path.name: path.read_text() for path in WEB.glob("*.js")}


def test_the_studio_is_small_modules_each_fetched_at_once():
    for name, text in modules().items():
        assert len(text.splitlines()) <= 320, f"{name}: {len(text.splitlines())} lines; split it by concern"
    # Every module app.js imports (directly or not) is preloaded by the page, and nothing else is.
    imports = {name: set(re.findall(r'^import (?:[^"]*from )?"\./([\w.]+)"', text, re.M))
               for name, text in modules().items()}
    reached, todo = set(), ["app.js"]
    while todo:
        for module in imports[todo.pop()] - reached:
            reached.add(module)
            todo.append(module)
    page = (WEB / "index.html").read_text()
    preloaded = set(re.findall(r'<link rel="modulepreload" href="/static/([\w.]+)">', page))
    assert preloaded == reached, (preloaded - reached, reached - preloaded)
    # What a person types is only ever set as text.
    for name, text in modules().items():
        assert "innerHTML" not in text and "insertAdjacentHTML" not in text and "outerHTML" not in text, name
