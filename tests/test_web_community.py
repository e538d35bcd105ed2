"""The studio of a community server (`serve --public`) in Chromium: an invite link opened in a fresh
browser, sign-up, a clip, an API key made in the Account view and used with the openai client, sign
out and in; an admin's invites, quotas, members and audit log; a moderator's report queue; and HTML
typed into every field a person can type, inert on every view, for the owner, a moderator and an admin."""

from __future__ import annotations

import time

import httpx
import pytest

from .service import Server
from .test_web import browser  # noqa: F401 (a fixture)

PASSWORD = "correct horse battery"
XSS = '<img src=x onerror="window.__xss=1"> <b>bold?</b>'
SHOWN = (f"document.querySelector('main').innerText.includes({XSS!r}) || "  # as text, or as a field's value
         f"[...document.querySelectorAll('main input, main textarea')].some(field => field.value === {XSS!r})")
INERT = "window.__xss === undefined && !document.querySelector('img[src=\"x\"], b')"


def until(page, expression: str, timeout: float = 30.0):
    """Poll a JavaScript expression until it is truthy, across the page's own reloads (signing in
    and out start the page afresh)."""
    from playwright.sync_api import Error

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            value = page.evaluate(expression)
        except Error as error:
            if "context was destroyed" not in str(error):
                raise
            value = None
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"{expression} stayed false for {timeout} s")


class Community:
    """The public server, with a way in for each of its people."""

    def __init__(self, server: Server):
        self.server, self.base = server, server.base
        from ungated.jobs.store import Store

        self.store = Store(server.db_url)

    def invite(self, role: str = "member") -> str:
        from ungated.jobs import members

        return members.create_invite(self.store, "cli", role=role)[1]

    def join(self, name: str, role: str = "member") -> httpx.Client:
        """A new member, signed in: an httpx client carrying their cookie and CSRF token."""
        client = httpx.Client(base_url=self.base, timeout=30)
        joined = client.post("/api/members", json={"name": name, "password": PASSWORD, "invite": self.invite(role)})
        assert joined.status_code == 201, joined.text
        client.headers["X-CSRF-Token"] = joined.json()["csrf_token"]
        client.member = joined.json()["member"]
        return client

    def clip(self, client: httpx.Client, prompt: str, **fields) -> dict:
        """A finished clip of the member's."""
        made = client.post("/api/videos", json={"prompt": prompt, "steps": 2, **fields})
        assert made.status_code == 200, made.text
        video = made.json()["data"][0]
        deadline = time.monotonic() + 60
        while (video := client.get(f"/api/videos/{video['id']}").json())["status"] != "completed":
            assert video["status"] in ("queued", "in_progress") and time.monotonic() < deadline, video
            time.sleep(0.2)
        return video


@pytest.fixture(scope="module")
def community(tmp_path_factory):
    home = tmp_path_factory.mktemp("community")
    running = Server(home, f"sqlite:///{home / 'store.db'}", extra=("--public",)).start()
    people = Community(running)
    people.admin = people.join("Ada Admin", "admin")
    people.moderator = people.join("Mo Moderator", "moderator")
    yield people
    for client in (people.admin, people.moderator):
        client.close()
    people.store.dispose()
    running.stop()


def open_page(browser, base: str, name: str | None = None):  # noqa: F811
    """A fresh browser context (no cookies, no storage), signed in as name when given."""
    context = browser.new_context(base_url=base, viewport={"width": 1280, "height": 900})
    if name:
        signed = context.request.post(f"{base}/api/session", data={"name": name, "password": PASSWORD})
        assert signed.ok, signed.text()
    page = context.new_page()
    page.problems = []
    page.on("pageerror", lambda error: page.problems.append(str(error)))
    page.on("console", lambda message: message.type == "error" and page.problems.append(message.text))
    return page


def close(page, refused: tuple[int, ...] = ()) -> None:
    """Close the page's browser, asserting it logged no error but the refusals the test provoked."""
    problems = [problem for problem in page.problems
                if not any(f"status of {status} " in problem for status in refused)]
    page.context.close()
    assert not problems, problems


def signed_in_as(page, name: str) -> None:
    until(page, f"document.querySelector('#member-name')?.textContent === {name!r}")
    assert page.is_hidden("#signin-open")


def test_join_by_invite_make_a_clip_and_use_an_api_key_with_the_openai_client(browser, community):  # noqa: F811
    import openai

    made = community.admin.post("/api/invites", json={"uses": 1, "note": "for Nia"})
    assert made.status_code == 201, made.text
    link = made.json()["url"]
    page = open_page(browser, community.base)
    page.goto(link)  # a private window: nobody is signed in
    page.wait_for_selector("#signin[open]")
    until(page, "document.querySelector('#signin-greeting').textContent.includes('You are invited')")
    assert page.locator("#signin-title").inner_text() == "Sign up"
    assert page.input_value("#signin-invite") == link.rpartition("/")[2]
    page.fill("#signin-name", "Ada Admin")  # taken: the API's words are shown
    page.fill("#signin-password", PASSWORD)
    page.click("#signin-submit")
    until(page, "document.querySelector('#signin-error').textContent.includes('taken')")
    page.fill("#signin-name", "Nia")
    page.click("#signin-submit")
    page.wait_for_url(f"{community.base}/")
    signed_in_as(page, "Nia")

    # A clip, made in the studio, as Nia.
    page.wait_for_selector("#model option", state="attached")
    page.fill("#prompt", "a small blue ball rolling")
    page.click("summary:has-text('Advanced')")
    page.fill("#steps", "2")
    page.press("#prompt", "Control+Enter")
    job = page.locator(".job").filter(has=page.locator(".job-prompt", has_text="blue ball")).first
    job.locator(".job-state").filter(has_text="Done").wait_for(timeout=60000)

    # The Account view: the quota, then a key, shown once with the openai client's code.
    page.click("#member-button")
    page.click("#member-menu a[href='/account']")
    page.wait_for_url("**/account")
    row = page.locator("#quota tr[data-limit=clips_per_day]")
    row.wait_for()
    assert "1 of " in row.inner_text(), row.inner_text()
    assert "start again at" in page.locator("#quota-resets").inner_text()
    page.fill("#key-name", "my script")
    page.click("#key-add button[type=submit]")
    secret = until(page, "document.querySelector('#key-secret-value').textContent")
    assert secret.startswith("ugk_")
    snippet = page.locator("#key-snippet").inner_text()
    assert f'base_url="{community.base}/v1"' in snippet and secret in snippet
    page.locator("#keys li", has_text="my script").wait_for()

    client = openai.OpenAI(base_url=f"{community.base}/v1", api_key=secret, max_retries=0)
    video = client.videos.create(model="builtin", prompt="a red square by key", extra_body={"steps": 2})
    page.goto("/me")  # it is Nia's, as what she made in the studio
    page.locator(".card-prompt", has_text="a red square by key").wait_for()

    # A revoked key stops working.
    page.goto("/account")
    page.once("dialog", lambda dialog: dialog.accept())
    page.locator("#keys li", has_text="my script").locator(".key-revoke").click()
    page.locator("#keys li", has_text="my script").locator(".key-state", has_text="revoked").wait_for()
    with pytest.raises(openai.AuthenticationError):
        client.videos.retrieve(video.id)

    # Sign out, then in again (a wrong password first: the API's words).
    page.click("#member-button")
    page.click("#signout")
    page.wait_for_selector("#signin-open:not([hidden])")
    assert page.is_hidden("#member-menu")
    page.click("#signin-open")
    assert page.locator("#signin-title").inner_text() == "Sign in"
    page.fill("#signin-name", "Nia")
    page.fill("#signin-password", "not the password")
    page.click("#signin-submit")
    until(page, "document.querySelector('#signin-error').textContent.length > 0")
    page.fill("#signin-password", PASSWORD)
    page.click("#signin-submit")
    signed_in_as(page, "Nia")
    page.goto("/me")
    page.locator(".card-prompt", has_text="a small blue ball rolling").wait_for()
    close(page, refused=(401, 409))  # the wrong password, the name taken

    # The invite was for one person: its link now says so.
    page = open_page(browser, community.base)
    page.goto(link)
    until(page, "document.querySelector('#signin-greeting').textContent.includes('can no longer be used')")
    close(page)


def test_an_admin_makes_an_invite_sets_a_quota_and_suspends_a_member(browser, community):  # noqa: F811
    quinn = community.join("Quinn")
    page = open_page(browser, community.base, "Ada Admin")
    page.goto("/")
    signed_in_as(page, "Ada Admin")
    page.click("#member-button")
    page.click("#menu-admin")
    page.wait_for_url("**/admin")

    # Live figures, read again while the view is open.
    members = until(page, "document.querySelector('dd[data-figure=members]')?.textContent")
    assert int(members) == len(community.admin.get("/api/members").json()["data"])
    before = int(page.locator("dd[data-figure=clips_last_hour]").inner_text())
    community.clip(quinn, "a clip for the figures")
    until(page, f"Number(document.querySelector('dd[data-figure=clips_last_hour]').textContent) > {before}", 15)

    # An invite: made, its link shown once, listed; the link greets whoever opens it.
    page.fill("#invite-uses", "3")
    page.select_option("#invite-role", "moderator")
    page.fill("#invite-note", "for the Tuesday group")
    page.click("#invite-add button[type=submit]")
    link = until(page, "document.querySelector('#invite-link').textContent")
    assert link.startswith(f"{community.base}/join/ugi_"), link
    invite = page.locator("#invites li", has_text="for the Tuesday group")
    assert "as moderator" in invite.inner_text() and "0 of 3 sign-ups" in invite.inner_text()
    visitor = open_page(browser, community.base)
    visitor.goto(link)
    until(visitor, "document.querySelector('#signin-greeting').textContent.includes('as a moderator')")
    close(visitor)
    page.once("dialog", lambda dialog: dialog.accept())
    invite.locator(".invite-revoke").click()
    invite.locator(".invite-state", has_text="revoked").wait_for()

    # Quinn's quota: one clip a day; the second is refused with a 429 naming the limit.
    item = page.locator(f"#members li[data-id='{quinn.member['id']}']")
    item.locator(".member-quota summary").click()
    item.locator("[data-limit=clips_per_day]").fill("1")
    item.locator("[data-limit=concurrent_jobs]").fill("unlimited")
    item.locator(".member-quota-save").click()
    quinn_item = f"document.querySelector(\"#members li[data-id='{quinn.member['id']}']\")"
    until(page, f"{quinn_item}.textContent.includes('clips a day 1,')")
    shown = next(m for m in community.admin.get("/api/members").json()["data"] if m["name"] == "Quinn")
    assert shown["quota_overrides"] == {"clips_per_day": 1, "concurrent_jobs": "unlimited"}
    refused = quinn.post("/api/videos", json={"prompt": "one too many", "steps": 2})
    assert refused.status_code == 429 and refused.json()["error"]["param"] == "clips_per_day", refused.text

    # A role, a suspension with its reason, and a reinstatement.
    item = page.locator(f"#members li[data-id='{quinn.member['id']}']")
    item.locator(".member-role").select_option("moderator")
    page.locator(f"#members li[data-id='{quinn.member['id']}'] .member-state", has_text="moderator").wait_for()
    item = page.locator(f"#members li[data-id='{quinn.member['id']}']")
    item.locator(".member-suspend").click()  # no reason: refused in the page
    assert "reason" in item.locator(".member-error").inner_text()
    item.locator(".member-reason").fill("posting spam")
    item.locator(".member-suspend").click()
    page.locator(f"#members li[data-id='{quinn.member['id']}'] .member-state", has_text="suspended").wait_for()
    assert quinn.get("/api/me/quota").status_code == 401  # their sessions ended
    again = httpx.post(f"{community.base}/api/session", json={"name": "Quinn", "password": PASSWORD})
    assert again.status_code == 403 and "posting spam" in again.json()["error"]["message"], again.text
    page.locator(f"#members li[data-id='{quinn.member['id']}'] .member-reinstate").click()
    page.locator(f"#members li[data-id='{quinn.member['id']}'] .member-state", has_text="moderator").wait_for()

    # What was done is in the audit log, newest first, with names.
    page.reload()
    page.locator("#audit li[data-action='member.reinstate']").first.wait_for()
    actions = page.eval_on_selector_all("#audit li", "items => items.map(li => li.dataset.action)")
    assert actions[:4] == ["member.reinstate", "member.suspend", "member.role", "member.quota"], actions
    assert "Ada Admin" in page.locator("#audit li").first.inner_text()
    assert page.locator("#view-admin a[href='/workers']").is_visible()
    close(page)

    # Quinn's Account view shows what is left.
    community.admin.patch(f"/api/members/{quinn.member['id']}", json={"role": "member"})
    page = open_page(browser, community.base, "Quinn")
    page.goto("/account")
    row = page.locator("#quota tr[data-limit=clips_per_day]")
    row.wait_for()
    assert row.locator("td").all_inner_texts() == ["1 of 1", "0"]
    assert page.locator("#quota tr[data-limit=concurrent_jobs] td").nth(1).inner_text() == "no limit"
    assert page.is_hidden("#nav-admin") and page.is_hidden("#nav-moderation")
    close(page)
    quinn.close()


def reports_exist(community) -> bool:
    return any(path.endswith("/reports") for path in httpx.get(f"{community.base}/openapi.json").json()["paths"])


def test_a_visitor_reports_a_clip_and_a_moderator_hides_it(browser, community):  # noqa: F811
    if not reports_exist(community):
        pytest.skip("the moderation routes are not there yet")
    rae = community.join("Rae")
    video = community.clip(rae, "a clip someone dislikes")

    visitor = open_page(browser, community.base)  # anyone may report, signed in or not
    visitor.goto(f"/v/{video['id']}")
    visitor.click("#video-report")
    visitor.select_option("#report-reason", "spam")
    visitor.fill("#report-note", "posted ten times today")
    visitor.click("#report-send")
    until(visitor, "document.querySelector('#report-state').textContent.includes('stays shared')")
    close(visitor)
    assert any(v["id"] == video["id"] for v in httpx.get(f"{community.base}/api/feed").json()["data"])

    page = open_page(browser, community.base, "Mo Moderator")
    page.goto("/")
    page.click("#nav-moderation")
    item = page.locator(f"#reports li[data-video='{video['id']}']")
    item.wait_for()
    assert "Spam" in item.inner_text() and "posted ten times today" in item.inner_text()
    assert "a clip someone dislikes" in item.inner_text()
    item.locator(".report-hide").click()  # no reason: refused in the page
    assert "reason" in item.locator(".report-error").inner_text()
    item.locator(".report-why").fill("the same clip again and again")
    item.locator(".report-hide").click()
    until(page, f"!document.querySelector(\"#reports li[data-video='{video['id']}']\")")
    page.select_option("#report-filter", "actioned")
    page.locator(f"#reports li[data-video='{video['id']}']").wait_for()
    close(page)

    assert all(v["id"] != video["id"] for v in httpx.get(f"{community.base}/api/feed").json()["data"])
    owner = open_page(browser, community.base, "Rae")
    owner.goto(f"/v/{video['id']}")
    until(owner, "document.querySelector('#video-moderation').textContent.includes('the same clip again and again')")
    assert owner.is_visible("#video-moderation") and owner.is_hidden("#video-report")
    close(owner)
    rae.close()


def test_html_typed_anywhere_renders_as_text_on_every_view(browser, community, tmp_path):  # noqa: F811
    owner = community.join("Xena")
    assert owner.put("/api/me", json={"artist": XSS}).status_code == 200
    video = community.clip(owner, XSS, artist=XSS)
    assert owner.put(f"/api/videos/{video['id']}/favourite").status_code < 300
    assert owner.post("/api/me/keys", json={"name": XSS}).status_code == 201
    board = owner.post("/api/boards", json={"title": XSS, "shots": [{"prompt": XSS, "seconds": 2}]})
    assert board.status_code < 300, board.text
    # Names of members, datasets, training runs and LoRAs are plain words: HTML is refused there.
    refused = httpx.post(f"{community.base}/api/members", json={"name": XSS, "password": PASSWORD,
                                                                "invite": community.invite()})
    assert refused.status_code == 400, refused.text
    assert owner.put(f"/api/datasets/{XSS}/files/a.txt", content=b"x").status_code in (400, 404, 422)
    # A caption may say anything; the dataset and its check are shown on the Train view.
    from ungated.train.demo_data import write_demo_dataset

    folder = write_demo_dataset(tmp_path / "clips", width=64, height=64, seconds=1, fps=8, scenes=["ball"])
    for path in sorted(folder.iterdir()):
        content = XSS.encode() if path.suffix == ".txt" else path.read_bytes()
        assert owner.put(f"/api/datasets/captions/files/{path.name}", content=content).status_code < 300
    training = owner.post("/api/trainings", json={"model": "builtin", "dataset": "captions", "name": XSS, "steps": 1})
    assert training.status_code in (400, 422), training.text
    assert community.admin.post("/api/invites", json={"note": XSS}).status_code == 201
    assert community.admin.post("/api/workers", json={"name": XSS}).is_success
    suspended = community.join("Sam")
    assert community.moderator.post(f"/api/members/{suspended.member['id']}/suspend",
                                    json={"reason": XSS}).status_code == 200
    hidden = None
    if reports_exist(community):
        assert httpx.post(f"{community.base}/api/videos/{video['id']}/reports",
                          json={"reason": "other", "note": XSS}).status_code == 201
        hidden = community.clip(owner, "a clip to hide")
        assert httpx.post(f"{community.base}/api/videos/{hidden['id']}/reports",
                          json={"reason": "spam", "note": XSS}).status_code == 201
        assert community.moderator.post(f"/api/videos/{hidden['id']}/moderation",
                                        json={"action": "hide", "reason": XSS}).status_code == 200

    views = {  # where each person sees what was typed
        "Xena": {"/": False, "/feed": True, "/me": True, "/favourites": True, f"/v/{video['id']}": True,
                 "/train": False, "/boards": True, f"/boards/{board.json()['id']}": True, "/account": True,
                 "/moderation": False, "/admin": False, "/workers": False,
                 **({f"/v/{hidden['id']}": True} if hidden else {})},  # the moderator's reason
        "Mo Moderator": {"/feed": True, f"/v/{video['id']}": True, "/moderation": reports_exist(community),
                         "/admin": True, "/account": False},
        "Ada Admin": {"/": False, "/feed": True, f"/v/{video['id']}": True, "/moderation": reports_exist(community),
                      "/admin": True, "/workers": True, "/train": False, "/boards": False, "/account": False},
    }
    for name, paths in views.items():
        page = open_page(browser, community.base, name)
        for path, shows in paths.items():
            page.goto(path)
            page.wait_for_selector("#model option", state="attached")
            if shows:
                until(page, SHOWN, 15)
            else:
                time.sleep(0.5)
            assert page.evaluate(INERT), (name, path)
        close(page, refused=(403,) if name == "Xena" else ())  # a member's /moderation and /admin are refused
    owner.close()
    suspended.close()


def test_the_community_views_fit_a_phone_screen(browser, community):  # noqa: F811
    for name, paths in ((None, ("/", "/feed")), ("Ada Admin", ("/", "/account", "/moderation", "/admin"))):
        context = browser.new_context(base_url=community.base, viewport={"width": 390, "height": 844}, is_mobile=True,
                                      has_touch=True)
        if name:
            assert context.request.post(f"{community.base}/api/session", data={"name": name, "password": PASSWORD}).ok
        phone = context.new_page()
        for path in paths:
            phone.goto(path)
            phone.wait_for_selector("#model option", state="attached")
            time.sleep(0.5)  # the view's lists
            assert phone.evaluate("document.documentElement.scrollWidth") <= 390, (name, path)
        context.close()
