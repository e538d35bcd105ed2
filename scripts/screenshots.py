"""Screenshots of the web studio for the README: the create page, the feed and a video page, on a
desktop and on a phone, in Debian's Chromium against a fresh `ungated serve` with a few clips; a
video page with its directing tools open (re-cut) and a storyboard made and stitched; and the
admins' Workers view (docs/community.md) against a server whose GPU workers are elsewhere; a
public server's Admin, Moderation and Account views, with members who joined by invite; and the
create page in Korean and in French with a batch of ten prompts as one group in a paused queue.

    python scripts/screenshots.py [--out docs/images]

The Korean screenshot needs a font with Hangul (Debian: `apt-get install fonts-nanum`).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import httpx
from playwright.sync_api import sync_playwright

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # for tests.service

from tests.service import Server  # noqa: E402
from ungated.jobs import members, worker_tokens  # noqa: E402
from ungated.jobs.store import Store  # noqa: E402

PROMPTS = [
    "a large yellow star bouncing on a purple background",
    "a small red circle moving right on a blue background",
    "a green square growing on a white background",
    "a large white triangle spinning on a black background",
    "a small orange circle moving up on a green background",
    "a large blue star moving left on a yellow background",
]
SCREENS = {"desktop": {"width": 1280, "height": 800}, "phone": {"width": 390, "height": 844}}


def wait_done(api: httpx.Client, ids: list[str]) -> None:
    while any(api.get(f"/api/videos/{i}").json()["status"] != "completed" for i in ids):
        time.sleep(0.3)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=Path("docs/images"))
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as folder:
        home = Path(folder)
        server = Server(home, f"sqlite:///{home / 'store.db'}").start()
        try:
            api = httpx.Client(base_url=server.base, timeout=60)
            api.put("/api/me", json={"artist": "Ada"})
            ids = [api.post("/api/videos", json={"prompt": p, "seed": 7 + i}).json()["data"][0]["id"]
                   for i, p in enumerate(PROMPTS)]
            wait_done(api, ids)
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path="/usr/bin/chromium",
                                                     args=["--no-sandbox", "--disable-gpu"])
                for screen, viewport in SCREENS.items():
                    page = browser.new_context(base_url=server.base, viewport=viewport,
                                               is_mobile=screen == "phone", device_scale_factor=1).new_page()
                    page.goto("/")
                    page.wait_for_selector("#model option", state="attached")
                    page.fill("#prompt", "a large red star spinning on a white background")
                    page.select_option("#variants", "2")
                    page.click("#submit")
                    page.locator(".job").nth(1).wait_for()
                    time.sleep(1.0)
                    page.evaluate("scrollTo(0, 0)")
                    page.screenshot(path=args.out / f"studio-create-{screen}.png")
                    page.goto("/feed")
                    page.wait_for_selector(".card >> nth=5")
                    time.sleep(0.5)
                    page.screenshot(path=args.out / f"studio-feed-{screen}.png")
                    page.goto(f"/v/{ids[0]}")
                    page.wait_for_selector("#video-facts dt")
                    time.sleep(1.0)
                    page.screenshot(path=args.out / f"studio-video-{screen}.png")
                dark = browser.new_context(base_url=server.base, viewport=SCREENS["desktop"], color_scheme="dark")
                page = dark.new_page()
                page.goto("/feed")
                page.wait_for_selector(".card >> nth=5")
                time.sleep(0.5)
                page.screenshot(path=args.out / "studio-feed-dark.png")
                directing_view(browser, server.base, ids[0], args.out / "studio-directing.png")
                storyboard_view(browser, api, ids[0], args.out / "studio-storyboard.png")
                workers_view(browser, home / "pool", args.out / "studio-workers.png")
                community_views(browser, home / "community", args.out)
                batch_views(browser, api, args.out)
                browser.close()
        finally:
            server.stop()
    print(f"wrote {len(SCREENS) * 3 + 9} screenshots to {args.out}")


def until(page, expression: str) -> None:
    """Poll a JavaScript expression until it is truthy (the page's CSP forbids Playwright's eval-based waits)."""
    while not page.evaluate(expression):
        time.sleep(0.1)


def directing_view(browser, base: str, video_id: str, path: Path) -> None:
    """A video page with its directing tools, the re-cut form open at a moment picked on the player."""
    page = browser.new_context(base_url=base, viewport={"width": 1280, "height": 1140}).new_page()
    page.goto(f"/v/{video_id}")
    page.click("#recut")
    until(page, "document.querySelector('#player').readyState >= 2")
    page.evaluate("document.querySelector('#player').currentTime = 2.5")
    until(page, "document.querySelector('#direct-at').textContent.startsWith('2.50')")
    until(page, "!document.querySelector('#player').seeking && document.querySelector('#player').readyState >= 3")
    page.fill("#direct-prompt", "a large yellow star moving right on a purple background")
    page.evaluate("document.activeElement.blur(); scrollTo(0, 0)")
    time.sleep(1.5)  # the player's loading ring fades
    page.screenshot(path=path)


def storyboard_view(browser, api: httpx.Client, clip_id: str, path: Path) -> None:
    """A three-shot storyboard made and stitched, its character made from a frame of a clip."""
    character = api.post("/api/characters", json={"name": "sunny", "video_id": clip_id, "at": 1.0}).json()
    shots = [{"prompt": f"@sunny {motion} on a purple background", "seconds": seconds, "character": character["id"]}
             for motion, seconds in (("moving right", 3), ("moving up", 2), ("spinning", 3))]
    board = api.post("/api/boards", json={"title": "Sunny's chase", "model": "builtin",
                                          "settings": {"size": "640x360", "seed": 7}, "shots": shots}).json()
    api.post(f"/api/boards/{board['id']}/make")
    while api.get(f"/api/boards/{board['id']}").json()["status"] != "completed":
        time.sleep(0.5)
    page = browser.new_context(base_url=str(api.base_url), viewport=SCREENS["desktop"]).new_page()
    page.goto(f"/boards/{board['id']}")
    until(page, "document.querySelector('#board-player').readyState >= 2")
    page.evaluate("document.querySelector('#board-player').currentTime = 3.5")
    time.sleep(1.0)
    page.screenshot(path=path, full_page=True)


def workers_view(browser, home: Path, path: Path) -> None:
    """The Workers view of a server with no workers of its own: one remote worker making a video,
    one the server paused after three refused results, one with a record, and a new token."""
    home.mkdir()
    server = Server(home, f"sqlite:///{home / 'store.db'}", workers=0).start()
    try:
        api = httpx.Client(base_url=server.base, timeout=60)
        busy = api.post("/api/workers", json={"name": "mina-4090"}).json()["secret"]
        api.post("/api/workers", json={"name": "school-lab-a6000", "models": ["builtin"]})
        api.post("/api/workers", json={"name": "borrowed-3060", "untrusted": True})
        api.post("/api/videos", json={"prompt": PROMPTS[1], "steps": 8})
        worker = {"Authorization": f"Bearer {busy}"}
        job = api.post("/api/worker/claim", headers=worker, json={"models": ["builtin"], "instance": "a1"}).json()["job"]
        api.post(f"/api/worker/jobs/{job['id']}/heartbeat", headers=worker,
                 json={"lease_token": job["lease_token"], "step": 3, "total": 8})
        store = Store(server.db_url)
        worker_tokens.record_done(store, worker_tokens.named(store, "school-lab-a6000").id, 0.84)
        paused = worker_tokens.named(store, "borrowed-3060").id
        for reason in ("the clip is 320x240; the job asked for 640x360",
                       "the upload ended at 1.2 MB of 3.4 MB (sha256 does not match)",
                       "the clip does not carry this job's invisible watermark"):
            worker_tokens.record_refused(store, paused, reason)
        page = browser.new_context(base_url=server.base, viewport=SCREENS["desktop"]).new_page()
        page.goto("/workers")
        page.wait_for_selector("#workers li >> nth=2")
        page.fill("#worker-name", "new-member-4070")
        page.click("#worker-add button[type=submit]")
        page.wait_for_selector("#worker-secret:not([hidden])")
        time.sleep(0.5)
        page.screenshot(path=path, full_page=True)
    finally:
        server.stop()


def community_views(browser, home: Path, out: Path) -> None:
    """A public server a few members joined by invite: its admin's Admin view (live figures,
    members, invites, the audit log), the Moderation view with two reports, a member's Account."""
    home.mkdir()
    server = Server(home, f"sqlite:///{home / 'store.db'}", extra=("--public",)).start()
    try:
        store = Store(server.db_url)
        people = {}
        for name, role in (("Ines", "admin"), ("Mina", "moderator"), ("Ada", "member"), ("Tomás", "member")):
            _, code = members.create_invite(store, "cli", role=role)
            client = httpx.Client(base_url=server.base, timeout=60)
            signed = client.post("/api/members", json={"name": name, "password": "a long password", "invite": code})
            client.headers["X-CSRF-Token"] = signed.json()["csrf_token"]
            people[name] = client
        admin = people["Ines"]
        ada_id = people["Ada"].get("/api/session").json()["member"]["id"]
        admin.patch(f"/api/members/{ada_id}", json={"quota": {"clips_per_day": 20}})
        admin.post("/api/invites", json={"uses": 25, "expires_in_hours": 72, "note": "spring workshop"})
        ids = [people["Ada"].post("/api/videos", json={"prompt": p, "seed": 3}).json()["data"][0]["id"]
               for p in PROMPTS[:3]]
        people["Tomás"].post("/api/videos", json={"prompt": PROMPTS[3]})
        wait_done(people["Ada"], ids)
        people["Ada"].post("/api/me/keys", json={"name": "laptop script"})
        httpx.post(f"{server.base}/api/videos/{ids[0]}/reports", json={"reason": "spam", "note": "posted 5 times"})
        people["Tomás"].post(f"/api/videos/{ids[1]}/reports", json={"reason": "copyright", "note": "my logo"})
        for name, path, ready, file in (("Ines", "/admin", "#audit li", "studio-admin.png"),
                                        ("Mina", "/moderation", "#reports li", "studio-moderation.png"),
                                        ("Ada", "/account", "#keys li", "studio-account.png")):
            context = browser.new_context(base_url=server.base, viewport=SCREENS["desktop"])
            context.request.post("/api/session", data={"name": name, "password": "a long password"})
            page = context.new_page()
            page.goto(path)
            page.wait_for_selector(ready)
            time.sleep(1.0)
            page.screenshot(path=out / file, full_page=True)
            context.close()
    finally:
        server.stop()


def batch_views(browser, api: httpx.Client, out: Path) -> None:
    """The create page of a browser set to Korean: ten prompts pasted as one batch, waiting as one
    group in a queue paused by its artist, the last moved to the front; then the same
    switched to French with the language menu."""
    api.post("/api/me/queue/pause")
    context = browser.new_context(base_url=str(api.base_url), viewport={"width": 1280, "height": 1000}, locale="ko-KR")
    page = context.new_page()
    page.goto("/")
    page.wait_for_selector("#model option", state="attached")
    page.click("#batch summary")
    page.fill("#batch-prompts", "\n".join(f"{p}, take {n}" for n in (1, 2) for p in PROMPTS[:5]))
    page.click("#batch-submit")
    until(page, "document.querySelectorAll('.job-group .job').length === 10")
    page.locator(".job-group .job").last.locator(".job-front").click()
    until(page, "document.querySelector('.job-group .job .job-prompt').textContent.endsWith('take 2')")
    time.sleep(1.0)
    page.evaluate("document.activeElement.blur(); scrollTo(0, 0)")
    page.screenshot(path=out / "studio-batch-ko.png")
    with page.expect_navigation():
        page.select_option("#language", "fr")
    until(page, "document.documentElement.lang === 'fr' && document.querySelectorAll('.job-group .job').length === 10")
    time.sleep(2.0)
    page.screenshot(path=out / "studio-batch-fr.png")
    context.close()
    api.post("/api/me/queue/cancel")
    api.post("/api/me/queue/resume")


if __name__ == "__main__":
    main()
