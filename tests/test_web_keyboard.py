"""The studio by keyboard alone, in Chromium: from a fresh page load, with nothing but keys pressed
(Tab, Shift+Tab, typing, Enter, Space, Home, Ctrl+Enter), a person makes a clip with the built-in
model, opens it from the queue, plays it and copies its share link. Every stop on the way shows
where the focus is (a visible focus ring)."""

from __future__ import annotations

import pytest

from .test_web import browser, checked_page, server, until  # noqa: F401 (fixtures)

ACTIVE = "document.activeElement"
# The focused element draws a ring: an outline of the studio's, or, on a control inside a video's
# own controls (the video, their host, is then not :focus itself), the browser's.
RING = (f"getComputedStyle({ACTIVE}).outlineStyle !== 'none' && parseFloat(getComputedStyle({ACTIVE}).outlineWidth) > 0"
        f" || ({ACTIVE}.matches('video[controls]') && !{ACTIVE}.matches(':focus'))")


@pytest.fixture
def keyboard_page(browser, server):  # noqa: F811
    context = browser.new_context(base_url=server.base, viewport={"width": 1280, "height": 900})
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=server.base)
    with checked_page(context) as page:
        yield page


def tab_to(page, test: str, most: int = 60, back: bool = False) -> int:
    """Press Tab (Shift+Tab when back) until the focused element passes test (a JavaScript expression
    on `el`), at most `most` times; each stop on the way must show its focus. How many presses it took."""
    for presses in range(1, most + 1):
        page.keyboard.press("Shift+Tab" if back else "Tab")
        described = page.evaluate(f"(el => el.id || el.className || el.tagName)({ACTIVE})")
        assert page.evaluate(RING), f"the focus on {described} is not visible"
        if page.evaluate(f"(el => {test})({ACTIVE})"):
            return presses
    raise AssertionError(f"{most} presses of Tab did not reach {test}")


def test_make_open_play_and_share_a_clip_by_keyboard(keyboard_page, server):  # noqa: F811
    page = keyboard_page
    page.goto("/")
    page.wait_for_selector("#model option", state="attached")

    page.keyboard.press("Tab")
    assert page.evaluate(f"{ACTIVE}.className") == "skip"  # the first stop skips the header
    page.keyboard.press("Enter")
    assert page.evaluate(f"{ACTIVE}.id") == "main"
    assert tab_to(page, "el.id === 'prompt'") == 1
    page.keyboard.type("a blue triangle spinning on an orange background")

    tab_to(page, "el.id === 'seconds'")
    page.keyboard.press("Home")  # the shortest clip the model makes
    tab_to(page, "el.tagName === 'SUMMARY'")
    page.keyboard.press("Enter")  # Advanced, open
    tab_to(page, "el.id === 'steps'")
    page.keyboard.press("Control+a")
    page.keyboard.type("4")
    tab_to(page, "el.id === 'prompt'", back=True)
    page.keyboard.press("Control+Enter")

    job = ".job:has(.job-prompt)"
    until(page, f"document.querySelector('{job}')?.querySelector('.job-prompt').textContent.includes('blue triangle')")
    until(page, f"!document.querySelector('{job} .job-open').hidden", 60)
    tab_to(page, "el.matches('.job-open')")
    page.keyboard.press("Enter")
    page.wait_for_url("**/v/video_*")
    video_id = page.url.rpartition("/")[2]
    # The focus moves to the page's heading: a screen reader says which video this is.
    until(page, f"{ACTIVE}.id === 'video-title' && {ACTIVE}.textContent.includes('blue triangle')")
    until(page, "document.querySelector('#player').readyState >= 2")

    # The video comes before its heading: back past its controls (play, timeline, ...) to the video.
    tab_to(page, "el.id === 'player' && el.matches(':focus')", back=True)
    page.keyboard.press("Space")
    until(page, "!document.querySelector('#player').paused")

    tab_to(page, "el.id === 'copy-link'")
    page.keyboard.press("Enter")
    until(page, "document.querySelector('#copy-state').textContent !== ''")
    copied = page.evaluate("navigator.clipboard.readText()")
    assert copied == f"{server.base}/v/{video_id}", copied
