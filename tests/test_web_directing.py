"""The studio's directing tools in a real browser (Debian's Chromium, Playwright) against `ungated
serve` with the built-in model at a tiny size: a three-shot storyboard built in the page, made,
played and regenerated; a clip extended, re-cut, edited, looped and blended from its page; characters
made from a frame and from an image; and no tool offered that the model lacks."""

from __future__ import annotations

import time

import httpx
import pytest
from PIL import Image

from . import test_web
from .service import Server
from .test_web import finish_with_a_clip, until

# test_web's fixtures: a Chromium for the module, a page per test (on this module's server) that
# fails the test on any console error, and an in-process API whose model loops but does nothing else.
browser, page, looping_server = test_web.browser, test_web.page, test_web.looping_server

SMALL = {"size": "256x144", "steps": 4}  # quick on two CPU cores
PROMPTS = ["a large red star moving right on a blue background", "a small white circle moving up on a black background",
           "a large yellow square spinning on a purple background"]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    home = tmp_path_factory.mktemp("web-directing")
    running = Server(home, f"sqlite:///{home / 'store.db'}").start()
    yield running
    running.stop()


@pytest.fixture(scope="module")
def api(server):
    with httpx.Client(base_url=server.base, timeout=60) as client:
        yield client


def made(api, prompt: str, seconds: float = 2) -> dict:
    """A finished small clip, made through the API."""
    video = api.post("/api/videos", json={"prompt": prompt, "seconds": seconds, **SMALL}).json()["data"][0]
    deadline = time.monotonic() + 120
    while (video := api.get(f"/api/videos/{video['id']}").json())["status"] not in ("completed", "failed"):
        assert time.monotonic() < deadline, video
        time.sleep(0.2)
    assert video["status"] == "completed", video
    return video


def shot_prompts(page) -> list[str]:
    return page.eval_on_selector_all("#shots .shot-prompt", "boxes => boxes.map(box => box.value)")


def test_a_storyboard_is_built_made_played_and_regenerated(page, api):
    page.goto("/boards")
    page.click("#board-new")
    page.wait_for_selector("#board:not([hidden]) #shots .shot")
    page.select_option("#board-model", "builtin")
    assert "shots flow into each other" in page.locator("#board-model option:checked").inner_text()
    page.select_option("#board-size", "256x144")
    page.click("#board summary")
    page.fill("#board-steps", "4")
    page.fill("#board-title", "Three shots")
    page.click("#shot-add")
    page.click("#shot-add")
    for index, (prompt, seconds) in enumerate(zip(PROMPTS, ("2", "3", "2"))):
        card = page.locator("#shots .shot").nth(index)
        card.locator(".shot-prompt").fill(prompt)
        card.locator(".shot-seconds").fill(seconds)
    assert "3 shots, 7.0 s in all" in page.inner_text("#board-length")
    page.locator("#shots .shot-seconds").nth(1).fill("30")  # longer than the model makes: said before anything is sent
    page.click("#board-make")
    assert page.inner_text("#board-error") == "shot 2, seconds: builtin makes shots of 2-20 s"
    assert page.evaluate("document.activeElement.getAttribute('aria-label')") == "Seconds of shot 2"
    page.keyboard.press("Control+A")
    page.keyboard.type("3")

    # Reorder: drag the first card onto the second, then move the last one earlier by keyboard.
    page.drag_and_drop("#shots .shot:nth-child(1) .shot-head", "#shots .shot:nth-child(2)")
    assert shot_prompts(page) == [PROMPTS[1], PROMPTS[0], PROMPTS[2]]
    page.focus("[aria-label='Move shot 3 earlier']")
    page.keyboard.press("Enter")
    assert shot_prompts(page) == [PROMPTS[1], PROMPTS[2], PROMPTS[0]]
    assert page.evaluate("document.activeElement.getAttribute('aria-label')") == "Move shot 2 earlier"  # focus follows
    assert page.inner_text("#shots-moved") == "Moved the shot to place 2 of 3."

    # Make: progress across the board and per shot, then one stitched clip of the summed length.
    page.click("#board-make")
    page.wait_for_url("**/boards/board_*")
    board_id = page.url.rpartition("/")[2]
    until(page, "document.querySelector('#board-state').textContent.startsWith('Making')", 30)
    until(page, "document.querySelector('#board-state').textContent.startsWith('Done')", 150)
    board = api.get(f"/api/boards/{board_id}").json()
    assert [shot["prompt"] for shot in board["shots"]] == [PROMPTS[1], PROMPTS[2], PROMPTS[0]]
    assert [shot["seconds"] for shot in board["shots"]] == [3, 2, 2]
    assert page.eval_on_selector("#board-bar", "bar => bar.value") == 100
    assert page.eval_on_selector_all("#shots .shot", "cards => cards.map(card => card.dataset.status)") == ["completed"] * 3
    assert page.locator("#shots .shot-thumb:visible").count() == 3
    until(page, "document.querySelector('#board-player').readyState >= 2", 30)
    assert page.evaluate("document.querySelector('#board-player').duration") == pytest.approx(7, abs=0.15)
    assert page.get_attribute("#board-share", "href").endswith(f"/v/{board['result']['id']}")

    # Regenerate the middle shot with a new prompt: only it is made again, and the board is stitched again.
    middle = page.locator("#shots .shot").nth(1)
    middle.locator(".shot-prompt").fill("a small green triangle moving left on a white background")
    middle.locator(".shot-regenerate").click()
    until(page, "document.querySelector('#board-state').textContent.startsWith('Making')", 30)
    until(page, "document.querySelector('#board-state').textContent.startsWith('Done')", 120)
    again = api.get(f"/api/boards/{board_id}").json()
    takes, retakes = [s["video"] for s in board["shots"]], [s["video"] for s in again["shots"]]
    assert retakes[0] == takes[0] and retakes[2] == takes[2] and retakes[1] != takes[1]
    assert again["shots"][1]["prompt"] == "a small green triangle moving left on a white background"
    assert again["result"]["id"] != board["result"]["id"]
    until(page, f"document.querySelector('#board-player').src.includes('{again['result']['id']}')")
    until(page, "document.querySelector('#board-player').readyState >= 2", 30)
    assert page.evaluate("document.querySelector('#board-player').duration") == pytest.approx(7, abs=0.15)

    page.click("#board a[href='/boards']")  # the list of boards has it
    page.locator("#boards a", has_text="Three shots").wait_for()


def watched(page, api) -> dict:
    """The video a tool just queued, watched live in the create page's queue panel until it ends."""
    page.wait_for_url("**/")
    video_id = page.locator("#queue .job").first.get_attribute("data-id")
    until(page, f"['completed', 'failed'].includes(document.querySelector('.job[data-id=\"{video_id}\"]')"
                "?.dataset.status)", 60)
    return api.get(f"/api/videos/{video_id}").json()


def direct(page, api, video_id: str, tool: str, seconds: str | None = None, **fill) -> dict:
    """Use one tool of a video's page; answers the video it made."""
    page.goto(f"/v/{video_id}")
    page.locator(f"#{tool}").click()
    for selector, value in fill.items():
        page.select_option(f"#{selector}", value) if selector == "blend-into" else page.fill(f"#{selector}", value)
    if seconds:
        page.fill("#direct-seconds", seconds)
    page.click("#direct-submit")
    return watched(page, api)


def test_a_clip_is_extended_re_cut_edited_looped_and_blended_from_its_page(page, api):
    a, b = made(api, PROMPTS[0]), made(api, PROMPTS[1])
    page.goto(f"/v/{a['id']}")
    page.locator("#extend").wait_for()
    tools = page.eval_on_selector_all("#direct-tools button", "buttons => buttons.filter(b => !b.hidden).map(b => b.id)")
    assert tools == ["extend", "recut", "edit", "make-loop", "blend", "make-character"]
    assert page.inner_text("#direct-lacks") == ""  # the built-in model does them all

    videos = {"extend": direct(page, api, a["id"], "extend", seconds="2")}
    page.goto(f"/v/{a['id']}")
    page.click("#recut")
    until(page, "document.querySelector('#player').readyState >= 1")
    page.evaluate("document.querySelector('#player').currentTime = 1")
    until(page, "document.querySelector('#direct-at').textContent.startsWith('1.00 s')")
    assert page.inner_text("#direct-submit") == "Continue from here"
    page.fill("#direct-seconds", "2")
    assert page.inner_text("#direct-length") == "The new clip: 1.0 s kept + 2.0 s new = 3.0 s"
    page.click("#direct-submit")
    videos["recut"] = watched(page, api)
    videos["edit"] = direct(page, api, a["id"], "edit",
                            **{"direct-prompt": "a large green star moving right on a white background"})
    page.goto(f"/v/{a['id']}")
    page.click("#make-loop")
    videos["loop"] = watched(page, api)
    videos["blend"] = direct(page, api, a["id"], "blend", seconds="2", **{"blend-into": b["id"]})

    assert {name: (v["status"], v["error"]) for name, v in videos.items()} == dict.fromkeys(videos, ("completed", None))
    assert videos["extend"]["seconds"] == pytest.approx(4, abs=0.1)
    assert videos["recut"]["seconds"] == pytest.approx(3, abs=0.1)
    assert videos["edit"]["seconds"] == pytest.approx(2, abs=0.1)
    assert videos["edit"]["prompt"] == "a large green star moving right on a white background"
    assert videos["loop"]["request"]["loop"] is True
    assert videos["blend"]["seconds"] == pytest.approx(6, abs=0.1)
    assert all(video["remixed_from"] == a["id"] for video in videos.values())


def test_characters_from_a_frame_and_from_an_image(page, api, tmp_path):
    clip = made(api, "a large red star moving right on a blue background")
    page.goto(f"/v/{clip['id']}")
    page.click("#make-character")
    page.click("#direct-submit")
    assert page.inner_text("#direct-error") == "name: give the character a name, used in prompts as @name"
    page.fill("#character-name", "hero")
    page.click("#direct-submit")
    page.locator("#direct-state", has_text="Saved the character @hero").wait_for()

    Image.new("RGB", (96, 96), "white").save(tmp_path / "plain.png")
    page.goto("/boards")
    hero = page.locator("#characters li[data-name='hero']")
    hero.wait_for()
    assert "The built-in model draws a large red star" in hero.inner_text()
    until(page, "document.querySelector(\"#characters li[data-name='hero'] img\").naturalWidth > 0")
    page.fill("#new-character-name", "plain")
    page.set_input_files("#new-character-image", str(tmp_path / "plain.png"))
    page.click("#character-add button[type=submit]")
    page.locator("#characters li[data-name='plain']").wait_for()
    page.click("#board-new")  # a shot can use one
    page.wait_for_selector("#shots .shot")
    assert "@hero (a large red star)" in page.locator("#shots .shot-character").first.inner_text()

    page.on("dialog", lambda dialog: dialog.accept())
    page.click("[aria-label='Delete the character plain']")
    until(page, "!document.querySelector(\"#characters li[data-name='plain']\")")
    assert "plain" not in {c["name"] for c in api.get("/api/characters").json()["data"]}
    page.goto("/")
    page.wait_for_selector("#model option", state="attached")
    assert page.is_visible("#character-hint")  # the prompt box says how to use one


def test_a_model_without_a_verb_does_not_offer_it(browser, looping_server):
    app, base = looping_server  # `builtin` answered by a model that loops but cannot extend, edit or blend
    context = browser.new_context(base_url=base, viewport={"width": 1280, "height": 900})
    page = context.new_page()
    video = httpx.post(f"{base}/api/videos", json={"prompt": "a blue square sliding", "seconds": 2,
                                                   "size": "640x360"}).json()["data"][0]
    finish_with_a_clip(app, video["id"])
    page.goto(f"/v/{video['id']}")
    page.locator("#make-loop").wait_for()
    for tool in ("extend", "recut", "edit", "blend"):
        assert page.is_hidden(f"#{tool}"), tool
    assert page.inner_text("#direct-lacks") == "builtin cannot extend, re-cut, edit or blend clips."
    page.goto("/boards/new")
    page.wait_for_selector("#shots .shot")
    assert "separate shots" in page.locator("#board-model option:checked").inner_text()
    assert "builtin cannot continue a clip" in page.inner_text("#board-model-info")
    context.close()


def test_a_phone_screen_has_no_sideways_scroll(browser, server):
    context = browser.new_context(base_url=server.base, viewport={"width": 390, "height": 844}, is_mobile=True,
                                  has_touch=True)
    phone = context.new_page()
    for path, drawn in (("/boards", "#characters-panel"), ("/boards/new", "#shots .shot")):
        phone.goto(path)
        phone.wait_for_selector(drawn)
        assert phone.evaluate("document.documentElement.scrollWidth") <= 390, path
    context.close()
