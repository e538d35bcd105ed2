"""Batches and one's own queue in the web studio (Chromium driven by Playwright against `ungated
serve`): ten pasted prompts as one group with its overall progress, a group cancelled as one, the
last queued video moved to the front by keyboard (and by pointer), and the queue paused and resumed.
A paused queue keeps videos waiting (no worker takes them) long enough to reorder them."""

from __future__ import annotations

import json
import re
from pathlib import Path

import httpx
import pytest

from .service import Server
from .test_web import browser, checked_page, until  # noqa: F401 (browser is a fixture)

PROMPTS = [f"a red circle drifting, take {i}" for i in range(1, 11)]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    home = tmp_path_factory.mktemp("web-queue")
    running = Server(home, f"sqlite:///{home / 'store.db'}").start()
    yield running
    running.stop()


@pytest.fixture
def api(server):
    client = httpx.Client(base_url=server.base, timeout=30)
    yield client
    client.post("/api/me/queue/cancel")  # the next test starts with an empty queue, not paused
    client.post("/api/me/queue/resume")
    client.close()


@pytest.fixture
def page(browser, server):  # noqa: F811
    context = browser.new_context(base_url=server.base, viewport={"width": 1280, "height": 900})
    with checked_page(context, refused=(400,)) as page:  # a refused batch is a 400 the page shows
        yield page


def open_studio(page) -> None:
    page.goto("/")
    page.wait_for_selector("#model option", state="attached", timeout=60000)  # a busy machine is slow


def order(page) -> list[str]:
    """The prompts of the queue panel's items, top to bottom."""
    return page.eval_on_selector_all("#queue .job .job-prompt", "nodes => nodes.map(n => n.textContent)")


def server_order(api) -> list[str]:
    return [video["prompt"] for video in api.get("/api/me/queue").json()["data"]]


def test_ten_pasted_prompts_are_one_group_with_overall_progress(page, api):
    open_studio(page)
    page.click("#create > details:not(#batch) > summary")  # Advanced: few steps, made quickly
    page.fill("#steps", "2")
    page.click("#batch summary")
    page.fill("#batch-prompts", "\n".join(PROMPTS) + "\n")
    until(page, "document.querySelector('#batch-submit').textContent === 'Make 10 videos'")
    page.reload()  # what was pasted is kept in this browser
    page.wait_for_selector("#model option", state="attached")
    assert page.input_value("#batch-prompts") == "\n".join(PROMPTS) + "\n" and page.is_visible("#batch-submit")
    page.click("#create > details:not(#batch) > summary")
    page.fill("#steps", "2")

    page.click("#batch-submit")
    group = page.locator("#queue .job-group")
    group.wait_for()
    until(page, "document.querySelectorAll('#queue .job-group .job').length === 10")
    assert group.count() == 1 and page.locator("#queue > .job").count() == 0  # one group, nothing beside it
    assert group.locator(".group-title").inner_text() == "Batch of 10 videos"
    assert page.input_value("#batch-prompts") == ""  # sent: the box empties
    batch = api.get(f"/api/batches/{group.get_attribute('data-batch')}").json()
    assert [video["prompt"] for video in batch["data"]] == PROMPTS
    assert {video["request"]["steps"] for video in batch["data"]} == {2}  # the form's settings as defaults

    # The header follows its videos live: n of 10 done, the bar their overall progress.
    assert group.locator(".group-state").inner_text() == "0 of 10 done"
    until(page, "/^[1-9]\\d* of 10 done$/.test(document.querySelector('.job-group .group-state').textContent)", 120)
    done = int(group.locator(".group-state").inner_text().split()[0])
    assert group.locator("progress.group-progress").evaluate("bar => bar.value") >= done * 10
    assert set(order(page)) == set(PROMPTS) and group.locator(".group-cancel").is_visible()


def test_a_refused_row_is_named_next_to_the_batch(page, api):
    open_studio(page)
    page.click("#batch summary")
    page.fill("#batch-prompts", "a blue square\n" + "x" * 2001 + "\na green star")
    page.click("#batch-submit")
    until(page, "document.querySelector('#batch-error').textContent.startsWith('row 2: prompt')")
    assert page.get_attribute("#batch-prompts", "aria-invalid") == "true"
    assert page.evaluate("document.activeElement.id") == "batch-prompts"  # the row's line, selected
    assert page.locator("#queue .job-group").count() == 0 and server_order(api) == []


def test_a_refused_row_is_named_once_in_the_readers_language(browser, server, api):  # noqa: F811
    pasted = "une étoile bleue\n" + "x" * 2001
    refused = api.post("/api/batches", json={"prompts": pasted}).json()["error"]
    french = json.loads((Path(__file__).parents[1] / "ungated/web/locales/fr.json").read_text(encoding="utf-8"))
    context = browser.new_context(base_url=server.base, locale="fr-FR")
    with checked_page(context, refused=(400,)) as page:
        open_studio(page)
        page.click("#batch summary")
        page.fill("#batch-prompts", pasted)
        page.click("#batch-submit")
        until(page, "document.querySelector('#batch-error').textContent !== ''")
        said = page.text_content("#batch-error")
    assert refused["param"] == "rows.1.prompt"
    message = french[f"errors.{refused['code']}"].replace("{param}", "prompt")  # the field, named once
    assert said == french["batch.row_error"].replace("{row}", "2").replace("{message}", message)


def test_cancel_all_of_a_group(page, api):
    assert api.post("/api/me/queue/pause").json()["paused"] is True  # they stay queued
    open_studio(page)
    page.click("#batch summary")
    page.fill("#batch-prompts", "a cyan dot\na magenta dot\na yellow dot")
    page.click("#batch-submit")
    group = page.locator("#queue .job-group")
    until(page, "document.querySelectorAll('#queue .job-group .job').length === 3")
    assert group.locator(".group-state").inner_text() == "0 of 3 done"
    page.once("dialog", lambda dialog: dialog.accept())
    group.locator(".group-cancel").click()
    until(page, "document.querySelector('.job-group .group-detail').textContent === '3 cancelled'")
    assert group.locator("progress.group-progress").evaluate("bar => bar.value") == 100
    assert group.locator(".job-state").all_inner_texts() == ["Cancelled"] * 3
    assert api.get(f"/api/batches/{group.get_attribute('data-batch')}").json()["counts"]["cancelled"] == 3


def test_the_last_queued_video_moves_to_the_front_by_keyboard(page, api):
    api.post("/api/me/queue/pause")
    for prompt in ("first in line", "second in line", "third in line"):
        assert api.post("/api/videos", json={"prompt": prompt, "steps": 2}).status_code == 200
    open_studio(page)
    until(page, "document.querySelectorAll('#queue .job .job-place:not([hidden])').length === 3")
    assert order(page) == ["first in line", "second in line", "third in line"]
    last = page.locator("#queue .job").nth(2)
    assert last.locator(".job-place").inner_text() == "3 of 3 in your queue"

    last.locator(".job-front").focus()
    page.keyboard.press("Enter")
    until(page, "document.querySelector('#queue .job .job-prompt').textContent === 'third in line'")
    assert order(page) == ["third in line", "first in line", "second in line"]
    assert server_order(api) == ["third in line", "first in line", "second in line"]
    until(page, "document.querySelector('#queue-status').textContent === 'Moved: now 1 of 3 in your queue'")
    moved = "document.activeElement.closest('.job')?.querySelector('.job-prompt').textContent"
    assert page.evaluate(moved) == "third in line"  # the focus stayed on the moved video

    page.keyboard.press("Alt+ArrowDown")  # one down, from the focused item
    until(page, "document.querySelectorAll('#queue .job .job-prompt')[1].textContent === 'third in line'")
    assert server_order(api) == ["first in line", "third in line", "second in line"]
    assert page.evaluate(moved) == "third in line"
    page.keyboard.press("Alt+Home")
    until(page, "document.querySelector('#queue .job .job-prompt').textContent === 'third in line'")
    page.keyboard.press("Alt+ArrowUp")  # already first: said, not moved
    until(page, "document.querySelector('#queue-status').textContent === 'It is already first in your queue.'")
    assert server_order(api) == ["third in line", "first in line", "second in line"]

    # By pointer: the last dragged by its handle onto the top half of the first.
    page.locator("#queue .job").nth(2).locator(".job-handle").drag_to(
        page.locator("#queue .job").nth(0), target_position={"x": 40, "y": 5})
    until(page, "document.querySelector('#queue .job .job-prompt').textContent === 'second in line'")
    assert server_order(api) == ["second in line", "third in line", "first in line"]


def test_pause_and_resume_the_queue(page, api):
    api.post("/api/me/queue/pause")
    made = api.post("/api/videos", json={"prompt": "a slow orange square", "steps": 2}).json()["data"][0]
    open_studio(page)
    page.locator("#queue-resume").wait_for()
    assert page.is_visible("#queue-paused") and page.is_hidden("#queue-pause")
    item = page.locator(f"#queue .job[data-id='{made['id']}']")
    item.locator(".job-state").filter(has_text="Paused").wait_for()

    page.click("#queue-resume")
    until(page, "document.querySelector('#queue-paused').hidden")
    assert api.get("/api/me/queue").json()["paused"] is False
    assert page.evaluate("document.activeElement.id") == "queue-pause"  # the focus stays on the control
    item.locator(".job-state").filter(has_text=re.compile("Making|Done")).wait_for(timeout=60000)  # a worker took it

    api.post("/api/videos", json={"prompt": "a long purple square", "steps": 400})
    page.locator("#queue-pause").wait_for()
    page.click("#queue-pause")
    until(page, "!document.querySelector('#queue-paused').hidden")
    assert api.get("/api/me/queue").json()["paused"] is True
    assert page.evaluate("document.activeElement.id") == "queue-resume"
    until(page, "document.querySelector('#queue-status').textContent === 'Your queue is paused.'")
