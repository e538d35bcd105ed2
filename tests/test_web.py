"""The web studio in a real browser: Debian's Chromium driven by Playwright against `ungated serve`."""

from __future__ import annotations

import contextlib
import shutil
import time

import httpx
import pytest
from playwright.sync_api import expect

from .service import Server

CHROMIUM = "/usr/bin/chromium"
BUILTIN = "builtin"
XSS = '<img src=x onerror="document.title=\'pwned\'"> <b>bold?</b>'


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    home = tmp_path_factory.mktemp("web")
    running = Server(home, f"sqlite:///{home / 'store.db'}").start()
    yield running
    running.stop()


@pytest.fixture(scope="module")
def browser():
    if not shutil.which(CHROMIUM):
        pytest.fail("Chromium is not installed; run scripts/test-deps.sh")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
        yield chromium
        chromium.close()


@contextlib.contextmanager
def checked_page(context, refused: tuple[int, ...] = ()):
    """A page of context that fails the test if it throws or logs an error (but the refusals with a
    status in refused, which the page shows); the context is closed after."""
    page = context.new_page()
    problems = []
    expected = [f"status of {status} " for status in refused]
    page.on("pageerror", lambda error: problems.append(str(error)))
    page.on("console", lambda message: message.type == "error" and not any(said in message.text for said in expected)
            and problems.append(message.text))
    yield page
    context.close()
    assert not problems, problems


@pytest.fixture
def page(browser, server):
    with checked_page(browser.new_context(base_url=server.base, viewport={"width": 1280, "height": 900})) as page:
        yield page


def until(page, expression: str, timeout: float = 30.0):
    """Poll a JavaScript expression until it is truthy (the page's CSP forbids Playwright's eval-based waits)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = page.evaluate(expression)
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"{expression} stayed false for {timeout} s")


def create(page, prompt: str, steps: int | None = None, variants: int = 1) -> None:
    page.goto("/")
    page.wait_for_selector("#model option", state="attached")
    page.fill("#prompt", prompt)
    page.select_option("#variants", str(variants))
    if steps:
        page.click("summary")
        page.fill("#steps", str(steps))
    page.press("#prompt", "Control+Enter")


def job_for(page, text: str):
    """The queue panel's entry for the prompt containing text, once it is there."""
    job = page.locator(".job").filter(has=page.locator(".job-prompt", has_text=text)).first
    job.wait_for()
    return job


def test_make_watch_play_find_and_share(page, browser, server):
    create(page, "a large yellow star bouncing on a purple background", steps=200)
    job = job_for(page, "yellow star")
    job.locator(".job-state").filter(has_text="Making").wait_for(timeout=30000)  # live progress by SSE
    job.locator(".job-state").filter(has_text="Done").wait_for(timeout=60000)
    assert job.locator("progress").evaluate("bar => bar.value") == 100

    job.locator(".job-open").click()
    until(page, "document.querySelector('#player').readyState >= 3")
    share = page.url
    made = httpx.get(f"{server.base}/api/videos/{share.rpartition('/')[2]}").json()
    assert page.evaluate("document.querySelector('#player').duration") == pytest.approx(made["seconds"], abs=0.1)
    facts = page.locator("#video-facts").inner_text()
    assert "builtin" in facts and made["size"] in facts
    page.locator("#video-facts dd[data-verdict=signed]").wait_for()  # the provenance badge
    assert "made with an AI model" in page.locator("#video-facts dd[data-verdict=signed]").inner_text()

    page.click("nav a[data-view=feed]")
    page.wait_for_selector(".card")
    assert page.locator(".card-prompt").first.inner_text() == "a large yellow star bouncing on a purple background"

    private = browser.new_context()  # a fresh browser: no storage, no history
    visitor = private.new_page()
    visitor.goto(share)
    until(visitor, "document.querySelector('#player').readyState >= 3")
    assert visitor.locator("#video-title").inner_text() == "a large yellow star bouncing on a purple background"
    private.close()


def test_remix_prefills_the_form(page, server):
    made = httpx.post(f"{server.base}/api/videos", json={"prompt": "a small red circle moving left", "seed": 1234,
                                                         "steps": 20}).json()["data"][0]
    page.goto(f"/v/{made['id']}")
    page.wait_for_selector("#video-title:has-text('a small red circle moving left')")
    page.click("#remix")  # the form fills once it has its models (a shared link opens before they load)
    expect(page.locator("#prompt")).to_have_value("a small red circle moving left")
    assert page.input_value("#seed") == "1234" and page.is_checked("#seed-lock")
    assert page.input_value("#steps") == "20"


def test_cancel_a_waiting_job(page, server):
    create(page, "a green square growing on a white background", steps=200, variants=4)
    jobs = page.locator(".job").filter(has=page.locator(".job-prompt", has_text="green square"))
    jobs.nth(3).wait_for()
    job = jobs.first  # the last variant: still queued behind the others
    job.locator(".job-cancel").click()
    job.locator(".job-state").filter(has_text="Cancelled").wait_for(timeout=30000)
    assert job.locator(".job-retry").is_visible()
    for video in httpx.get(f"{server.base}/api/me/videos?status=active").json()["data"]:
        httpx.post(f"{server.base}/api/videos/{video['id']}/cancel")  # the tests after it wait behind none of them


def test_prompts_render_as_text(page, server):
    create(page, XSS, steps=4)
    job = job_for(page, "bold?")
    assert job.locator(".job-prompt").inner_text() == XSS
    job.locator(".job-state").filter(has_text="Done").wait_for(timeout=60000)
    page.click("nav a[data-view=feed]")
    page.wait_for_selector(".card")
    assert page.locator(".card-prompt").first.inner_text() == XSS
    assert page.locator(".card img[src='x']").count() == 0 and page.locator(".card b").count() == 0
    assert page.title() != "pwned"


def test_a_phone_screen_has_no_sideways_scroll(browser, server):
    context = browser.new_context(base_url=server.base, viewport={"width": 390, "height": 844}, is_mobile=True,
                                  has_touch=True)
    phone = context.new_page()
    for path in ("/", "/feed", "/me", "/train"):
        phone.goto(path)
        phone.wait_for_selector("#model option", state="attached")
        assert phone.evaluate("document.documentElement.scrollWidth") <= 390, path
    context.close()


def test_the_page_is_small_labelled_and_locked_down(server):
    page = httpx.get(f"{server.base}/")
    policy = page.headers["content-security-policy"]
    assert "script-src 'self'" in policy and "unsafe-inline" not in policy
    weight = len(page.content) + sum(len(httpx.get(f"{server.base}/static/{name}").content)
                                     for name in ("app.js", "common.js", "workers.js", "style.css", "icon.svg"))
    assert weight < 200 * 1024, weight
    html = page.text
    for control in ("prompt", "model", "resolution", "variants", "seconds", "seed", "negative", "steps", "guidance",
                    "train-model", "train-dataset", "dataset-files", "train-name", "train-steps", "train-prompt",
                    "worker-name"):
        assert f'for="{control}"' in html, control  # every control has a label


def test_the_keyboard_reaches_and_opens_videos(page, server):
    made = httpx.post(f"{server.base}/api/videos", json={"prompt": "a white circle", "steps": 4}).json()["data"][0]
    while httpx.get(f"{server.base}/api/videos/{made['id']}").json()["status"] != "completed":
        time.sleep(0.2)
    page.goto("/feed")
    page.wait_for_selector(".card")
    page.keyboard.press("Tab")  # the first Tab stop is the skip link
    assert page.evaluate("document.activeElement.className") == "skip"
    page.focus(".card-link")
    page.keyboard.press("Enter")
    page.wait_for_url("**/v/video_*")
    until(page, "document.querySelector('#player').readyState >= 1")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.tagName") in ("A", "VIDEO", "BUTTON")


def test_the_lora_picker_offers_the_library_for_models_that_take_loras(browser, tiny_folders, tmp_path):
    import json

    from .test_loras import _make_lora

    library = tmp_path / "files" / "loras"
    library.mkdir(parents=True)
    _make_lora(tiny_folders["wan"], "wan", library / "style.safetensors")
    (library / "style.json").write_text(json.dumps({"model": "wan2.1-t2v-1.3b", "clips": 10,
                                                    "example_prompt": "a red fox"}))
    (tmp_path / "config.toml").write_text(f'[models."wan2.1-t2v-1.3b"]\npath = "{tiny_folders["wan"]}"\n')
    server = Server(tmp_path, f"sqlite:///{tmp_path / 'store.db'}", extra=("--models", "builtin,wan2.1-t2v-1.3b"))
    server.start()
    context = browser.new_context(base_url=server.base, viewport={"width": 1280, "height": 900})
    try:
        page = context.new_page()
        page.goto("/")
        page.wait_for_selector("#model option", state="attached")
        page.select_option("#model", "builtin")
        assert page.is_hidden("#lora-field")  # the built-in model takes no LoRAs
        page.select_option("#model", "wan2.1-t2v-1.3b")
        page.wait_for_selector("#lora-field:not([hidden])")
        page.check("[data-lora='style']")
        page.fill("[aria-label='style weight']", "0.8")
        page.fill("#prompt", "a red fox running")
        page.fill("#seconds", "0.3125")  # 5 frames: quick on the CPU
        page.click("summary")
        page.fill("#steps", "2")
        page.press("#prompt", "Control+Enter")
        video_id = job_for(page, "a red fox running").get_attribute("data-id")
        video = httpx.get(f"{server.base}/api/videos/{video_id}").json()
        assert video["request"]["loras"] == [{"name": "style", "weight": 0.8}], video
        until(page, f"document.querySelector('.job[data-id=\"{video_id}\"]')?.textContent.includes('Done')", 120)
    finally:
        context.close()
        server.stop()


def test_train_on_an_uploaded_folder_and_watch_it(page, server, tmp_path):
    from ungated.train.demo_data import write_demo_dataset

    folder = write_demo_dataset(tmp_path / "beach-clips", width=96, height=64, seconds=1.5, fps=8,
                                scenes=["ball", "sunset"])
    (folder / "notes.doc").write_text("not a clip")  # left out by the page, not sent
    page.goto("/train")
    page.wait_for_selector("#train-model option", state="attached")
    page.set_input_files("#dataset-files", str(folder))
    until(page, "document.querySelector('#upload-state').textContent.startsWith('Uploaded 4 files')")
    until(page, "document.querySelector('#dataset-report').textContent.startsWith('2 clips')")
    assert page.input_value("#train-dataset") == "beach-clips" and page.input_value("#train-name") == "beach-clips"
    page.fill("#train-steps", "4")
    page.fill("#train-sample-every", "2")
    page.click("#train-submit")
    run = page.locator("#runs .run").first
    run.wait_for()
    until(page, "document.querySelector('#runs .run')?.dataset.status === 'completed'", 120)
    assert page.is_visible("#runs .run .loss") and page.is_visible("#runs .run .sample")
    outputs = run.locator(".outputs a").all_inner_texts()
    assert outputs == ["model/config.json", "model/loss.png", "model/model.safetensors", "model/sample.mp4"]
    assert httpx.get(server.base + run.locator(".outputs a").nth(2).get_attribute("href")).status_code == 200
    # The dataset can go (the run keeps what it made).
    page.on("dialog", lambda dialog: dialog.accept())
    page.click("#dataset-delete")
    until(page, "document.querySelector('#train-dataset').value === ''")  # only "New dataset" is left
    assert httpx.get(f"{server.base}/api/datasets").json()["data"] == []
    # Offered at once for a fine-tune, and (Use it) in the create form.
    assert "builtin/beach-clips" in page.eval_on_selector_all("#train-init option", "os => os.map(o => o.value)")
    run.locator(".run-use").click()
    until(page, "location.pathname === '/' && document.querySelector('#model').value === 'builtin/beach-clips'")
    assert page.locator("#model option:checked").inner_text() == "beach-clips (trained on clips)"


def test_an_admin_makes_watches_unpauses_and_revokes_gpu_workers(page, server):
    from ungated.jobs import worker_tokens
    from ungated.jobs.store import Store

    page.goto("/")
    page.wait_for_selector("#model option", state="attached")
    page.click("#nav-workers")  # a local user is the admin: the link is there
    page.wait_for_url("**/workers")
    page.fill("#worker-name", "mina-4090")
    page.click("#worker-any-model")  # only the built-in model
    page.check(f"#worker-models input[value='{BUILTIN}']")
    page.check("#worker-untrusted")
    page.click("#worker-add button[type=submit]")
    command = until(page, "document.querySelector('#worker-command').textContent")
    assert command.startswith(f"ungated worker --server {server.base} --token ugw_"), command
    secret = command.split("--token ")[1]
    item = page.locator("#workers li[data-name='mina-4090']")
    item.wait_for()
    assert "live · untrusted" in item.locator(".worker-state").inner_text()
    assert "Not connected yet" in item.inner_text() and BUILTIN in item.inner_text()

    # The token works: a worker's claim is answered (no job waiting: 204), and the view shows it connected.
    claimed = httpx.post(f"{server.base}/api/worker/claim", headers={"Authorization": f"Bearer {secret}"},
                         json={"models": [BUILTIN], "instance": "ab12", "wait": 0}, timeout=10)
    assert claimed.status_code == 204, claimed.text
    mina = "document.querySelector(\"#workers li[data-name='mina-4090']\")"
    until(page, f"{mina}.textContent.includes('1 process connected')", 15)

    # Three refused results in a row pause it; the admin sees why and unpauses it.
    store = Store(server.db_url)
    token = worker_tokens.named(store, "mina-4090")
    for reason in ("the clip is 320x240, the job asked for 640x360", "the upload is cut short",
                   "the clip does not carry this job's watermark"):
        worker_tokens.record_refused(store, token.id, reason)
    until(page, "document.querySelector(\"#workers li[data-name='mina-4090']\").dataset.state === 'paused'", 15)
    assert "Refused: the clip does not carry this job's watermark" in item.inner_text()
    item.locator(".worker-unpause").click()
    until(page, "document.querySelector(\"#workers li[data-name='mina-4090']\").dataset.state === 'live'", 15)

    page.once("dialog", lambda dialog: dialog.accept())
    item.locator(".worker-revoke").click()
    until(page, "document.querySelector(\"#workers li[data-name='mina-4090']\").dataset.state === 'revoked'", 15)
    refused = httpx.post(f"{server.base}/api/worker/claim", headers={"Authorization": f"Bearer {secret}"},
                         json={"models": [BUILTIN], "instance": "ab12", "wait": 0}, timeout=10)
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "worker_revoked"


@pytest.fixture
def looping_server(tmp_path):
    """The API in-process, with `builtin` answered by a model that draws any size and length and
    loops (capabilities only, and no worker: videos stay queued unless a test finishes them)."""
    import threading

    import uvicorn

    from .fake_engines import ANY_ASPECT, app_serving
    from .service import free_port

    app = app_serving(tmp_path, ANY_ASPECT)
    port = free_port()
    running = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=running.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not running.started and time.monotonic() < deadline:
        time.sleep(0.05)
    yield app, f"http://127.0.0.1:{port}"
    running.should_exit = True
    thread.join(10)


def finish_with_a_clip(app, video_id: str) -> None:
    """Make a queued video completed, with a small real clip and thumbnail as its files."""
    import numpy as np
    from PIL import Image
    from sqlalchemy import update

    from ungated.jobs import queue
    from ungated.jobs.schema import Video
    from ungated.media.encode import Mp4Writer
    from ungated.media.pipeline import companion_paths

    storage, store = app.state.studio.storage, app.state.studio.store
    files = companion_paths(storage.root / "videos" / video_id / "clip.mp4")
    files.video.parent.mkdir(parents=True)
    with Mp4Writer(files.video, 64, 64, 8, {}) as writer:
        for i in range(16):
            writer.write(np.full((64, 64, 3), i * 8, np.uint8))
    Image.new("RGB", (64, 64), "gray").save(files.thumbnail)
    with store.write() as session:
        session.execute(update(Video).where(Video.id == video_id).values(status=queue.COMPLETED,
                                                                          result=storage.relative(files.video)))


def test_loop_is_offered_for_a_model_that_loops_and_draws_any_size(browser, looping_server):
    app, base = looping_server
    context = browser.new_context(base_url=base, viewport={"width": 1280, "height": 900})
    page = context.new_page()
    problems = []
    page.on("pageerror", lambda error: problems.append(str(error)))
    page.on("console", lambda message: message.type == "error" and problems.append(message.text))
    api = httpx.Client(base_url=base, timeout=30)

    # The create form: every aspect at every resolution, 2-20 s, and a Loop checkbox.
    page.goto("/")
    page.wait_for_selector("#model option", state="attached")
    until(page, "!document.querySelector('#loop-field').hidden")
    info = page.locator("#model-info").inner_text()
    assert "any size" in info and "8-30 fps" in info and "2-20 s" in info and "loops" in info
    page.check("input[name=aspect][value='9:16']")
    page.select_option("#resolution", "1080p")
    page.check("#loop")
    page.fill("#prompt", "a red circle orbiting a blue square")
    until(page, "document.querySelector('#plan').textContent.includes('Makes 1080x1920, 5.0 s (120 frames at 24 fps)')")
    page.press("#prompt", "Control+Enter")
    job_for(page, "red circle orbiting")
    made = api.get("/api/me/videos").json()["data"][0]
    assert made["request"]["loop"] is True and (made["size"], made["seconds"]) == ("1080x1920", 5)

    # The video page's Loop: a looping version of a finished video, as a new video; not offered for a loop.
    plain = api.post("/api/videos", json={"prompt": "a blue square sliding", "seed": 3, "seconds": 2,
                                          "size": "640x360"}).json()["data"][0]
    finish_with_a_clip(app, plain["id"])
    page.goto(f"/v/{plain['id']}")
    page.locator("#make-loop").wait_for()
    page.click("#make-loop")
    job_for(page, "blue square sliding")
    looped = api.get("/api/me/videos").json()["data"][0]
    assert looped["remixed_from"] == plain["id"] and looped["request"]["loop"] is True
    assert (looped["seed"], looped["size"], looped["seconds"]) == (3, "640x360", 2)
    finish_with_a_clip(app, looped["id"])
    page.goto(f"/v/{looped['id']}")
    page.locator("#video-facts dt", has_text="Loop").wait_for()
    assert page.locator("#make-loop").is_hidden() and page.locator("#remix").is_visible()
    context.close()
    assert not problems, problems
