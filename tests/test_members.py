"""Members of a community server (issue 31): invites and open sign-up, sessions, members' own
keys, roles, suspension, daily quotas and the admin's figures and audit log. In-process, on
SQLite and PostgreSQL."""

from __future__ import annotations

import time

import openai
import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from ungated import settings
from ungated.api.app import create_app
from ungated.api.service import ServiceConfig
from ungated.cli import app as cli
from ungated.jobs import members, queue, quotas
from ungated.jobs.quotas import Quota
from ungated.jobs.storage import Storage
from ungated.jobs.store import Store

PASSWORD = "correct horse battery"


@pytest.fixture
def server(tmp_path, db_url):
    store = Store(db_url)
    store.migrate()
    config = ServiceConfig(public=True, quota=Quota(clips_per_day=3, gpu_seconds_per_day=100, concurrent_jobs=2,
                                                    concurrent_trainings=1))
    app = create_app(store, Storage(tmp_path / "files"), config)
    with TestClient(app, raise_server_exceptions=False) as client:
        yield store, app, client
    store.dispose()


def join(app, store, name: str, role: str = "member") -> tuple[TestClient, dict]:
    """A browser of a new member, signed up through an invite, and its session."""
    _, code = members.create_invite(store, "cli", role=role)
    browser = TestClient(app, raise_server_exceptions=False)
    signed = browser.post("/api/members", json={"name": name, "password": PASSWORD, "invite": code})
    assert signed.status_code == 201, signed.text
    browser.headers["X-CSRF-Token"] = signed.json()["csrf_token"]
    return browser, signed.json()


def make(client: TestClient, **fields):
    return client.post("/api/videos", json={"prompt": "a red circle", **fields})


def error(response) -> dict:
    return response.json()["error"]


def test_an_invite_signs_up_and_the_cookie_is_locked_down(server):
    store, app, _ = server
    _, code = members.create_invite(store, "cli", uses=1, role="moderator")
    browser = TestClient(app, base_url="https://testserver", raise_server_exceptions=False)
    assert browser.get(f"/api/invites/{code}").json()["valid"] is True
    signed = browser.post("/api/members", json={"name": "Ada Lovelace", "password": PASSWORD, "invite": code})
    assert signed.status_code == 201, signed.text
    assert signed.json()["member"]["role"] == "moderator" and signed.json()["csrf_token"]
    cookie = signed.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=lax" in cookie and "secure" in cookie
    assert browser.get("/api/session").json()["member"]["name"] == "Ada Lovelace"
    # The invite was for one: it is used up, and says so.
    again = TestClient(app).post("/api/members", json={"name": "Bob", "password": PASSWORD, "invite": code})
    assert again.status_code == 403 and error(again)["param"] == "invite" and "used up" in error(again)["message"]
    assert browser.get(f"/api/invites/{code}").json()["valid"] is False


@pytest.mark.parametrize("change, words", [("revoked", "revoked"), ("expired", "expired"),
                                           ("unknown", "not an invite")])
def test_a_dead_invite_is_refused_with_the_reason(server, change, words):
    store, app, client = server
    invite, code = members.create_invite(store, "cli", uses=5)
    if change == "revoked":
        members.revoke_invite(store, "cli", invite.id)
    elif change == "expired":
        with store.write() as session:
            session.get(members.Invite, invite.id).expires_at = time.time() - 1
    else:
        code = "ugi_nothing"
    refused = client.post("/api/members", json={"name": "Bob", "password": PASSWORD, "invite": code})
    assert refused.status_code == 403 and words in error(refused)["message"]
    assert members.count(store) == 0


def test_sign_up_checks_every_field_and_writes_nothing(server):
    store, app, client = server
    _, code = members.create_invite(store, "cli", uses=10)
    cases = [({"name": "", "password": PASSWORD}, "name"), ({"name": "<b>x</b>", "password": PASSWORD}, "name"),
             ({"name": "a" * 41, "password": PASSWORD}, "name"), ({"name": "Ada", "password": "short"}, "password"),
             ({"name": "Ada\x00", "password": PASSWORD}, "name")]
    for body, param in cases:
        refused = client.post("/api/members", json={**body, "invite": code})
        assert refused.status_code == 400 and error(refused)["param"] == param, (body, refused.text)
    # Only JSON: a form another site posts (even text/plain holding JSON) signs no browser up or in.
    as_form = f'{{"name": "Ada", "password": "{PASSWORD}", "invite": "{code}"}}'
    for path in ("/api/members", "/api/session"):
        assert client.post(path, content=as_form, headers={"content-type": "text/plain"}).status_code == 400
    assert members.count(store) == 0
    join(app, store, "Ada")
    taken = client.post("/api/members", json={"name": "ADA", "password": PASSWORD, "invite": code})
    assert taken.status_code == 409 and error(taken)["param"] == "name"


def test_without_an_invite_sign_up_is_open_only_when_the_server_says_so(server, tmp_path):
    store, app, client = server
    closed = client.post("/api/members", json={"name": "Ada", "password": PASSWORD})
    assert closed.status_code == 403 and error(closed)["param"] == "invite"
    app.state.studio.config.open_signup = True
    assert client.get("/api/session").json()["signup"] == "open"
    assert client.post("/api/members", json={"name": "Ada", "password": PASSWORD}).status_code == 201


def test_sign_in_starts_a_new_session_and_sign_out_ends_it(server):
    store, app, _ = server
    join(app, store, "Ada")
    browser = TestClient(app, raise_server_exceptions=False)
    browser.cookies.set("ungated_session", "ugs_chosen_by_an_attacker", domain="testserver.local")
    assert browser.get("/api/session").json()["signed_in"] is False
    signed = browser.post("/api/session", json={"name": "ada", "password": PASSWORD})
    assert signed.status_code == 200
    secret = browser.cookies.get("ungated_session")
    assert secret != "ugs_chosen_by_an_attacker"
    csrf = signed.json()["csrf_token"]
    assert make(browser).status_code == 403  # a write without the CSRF token
    assert make(browser, seed=1).json()["error"]["code"] == "csrf_failed"
    assert browser.post("/api/videos", json={"prompt": "x"}, headers={"X-CSRF-Token": csrf}).status_code == 200
    assert browser.delete("/api/session", headers={"X-CSRF-Token": csrf}).status_code == 200
    replay = TestClient(app, raise_server_exceptions=False)
    replay.cookies.set("ungated_session", secret, domain="testserver.local")
    assert replay.get("/api/session").json()["signed_in"] is False
    assert replay.post("/api/videos", json={"prompt": "x"}, headers={"X-CSRF-Token": csrf}).status_code == 401


def test_password_guessing_is_throttled_per_name(server):
    store, app, client = server
    join(app, store, "Ada")
    join(app, store, "Bob")
    for _ in range(members.FAILURES_PER_NAME):
        assert client.post("/api/session", json={"name": "Ada", "password": "guess 1234"}).status_code == 401
    throttled = client.post("/api/session", json={"name": "Ada", "password": PASSWORD})
    assert throttled.status_code == 429 and int(throttled.headers["retry-after"]) > 0
    assert client.post("/api/session", json={"name": "Bob", "password": PASSWORD}).status_code == 200


def test_a_members_key_acts_as_the_member_with_the_openai_client(server):
    store, app, _ = server
    ada, session = join(app, store, "Ada")
    made = ada.post("/api/me/keys", json={"name": "laptop"})
    assert made.status_code == 201 and made.json()["secret"].startswith("ugk_")
    assert "secret" not in ada.get("/api/me/keys").json()["data"][0]
    client = openai.OpenAI(base_url="http://testserver/v1", api_key=made.json()["secret"],
                           http_client=TestClient(app))
    video = client.videos.create(prompt="a red circle", seconds="4")
    mine = ada.get("/api/me/videos").json()["data"]
    assert video.id in [v["id"] for v in mine]  # by key or by cookie, one member owns it
    assert {v["artist"] for v in mine} == {"Ada"}  # credited by their name until they choose another
    bob, _ = join(app, store, "Bob")
    assert bob.delete(f"/api/me/keys/{made.json()['id']}").status_code == 404  # not his
    assert ada.delete(f"/api/me/keys/{made.json()['id']}").status_code == 200
    with pytest.raises(openai.AuthenticationError):
        client.videos.create(prompt="a red circle", seconds="4")


def test_quotas_refuse_with_the_limit_and_when_it_resets(server):
    store, app, _ = server
    ada, _ = join(app, store, "Ada")
    assert make(ada, variants=2).status_code == 200
    busy = make(ada)
    assert busy.status_code == 429 and error(busy)["param"] == "concurrent_jobs"
    for video in ada.get("/api/me/videos").json()["data"]:
        claimed = queue.claim(store, "w", ["builtin"])
        with store.write() as session:  # it ran for 30 s, 0.5 s of them on the GPU
            session.get(queue.Video, claimed.id).started_at -= 30
        assert queue.complete(store, claimed.id, claimed.lease_token, f"videos/{video['id']}.mp4", run_seconds=0.5)
    assert make(ada).status_code == 200
    over = make(ada)
    assert over.status_code == 429 and error(over)["code"] == "quota_exceeded"
    assert error(over)["param"] == "clips_per_day" and "resets at 00:00 UTC" in error(over)["message"]
    wait = int(over.headers["retry-after"])
    assert 0 < wait <= 86400 and abs(time.time() + wait - quotas.resets_at(time.time())) < 5
    quota = ada.get("/api/me/quota").json()
    assert quota["limits"]["clips_per_day"] == 3 and quota["used"]["clips_per_day"] == 3
    assert quota["used"]["gpu_seconds_per_day"] == pytest.approx(1.0, abs=0.1)
    # Another member's count is their own.
    bob, _ = join(app, store, "Bob")
    assert make(bob).status_code == 200


def test_gpu_seconds_are_the_workers_report_capped_by_the_wall_time(server):
    store, app, _ = server
    ada, session = join(app, store, "Ada")
    member_id = session["member"]["id"]
    make(ada)
    claimed = queue.claim(store, "w", ["builtin"])
    assert queue.complete(store, claimed.id, claimed.lease_token, "videos/a.mp4", run_seconds=10**6)
    with store.read() as s:
        spent = quotas.used(s, member_id)["gpu_seconds_per_day"]
    assert spent < 60  # a worker cannot claim more time than the attempt took
    with store.write() as s:  # a long run: the day's GPU time is spent
        s.get(queue.Video, claimed.id).run_seconds = 100.0
    over = make(ada)
    assert over.status_code == 429 and error(over)["param"] == "gpu_seconds_per_day"


def test_an_admin_sets_roles_and_quota_overrides_and_every_change_is_audited(server):
    store, app, client = server
    admin, admin_session = join(app, store, "Root", role="admin")
    ada, session = join(app, store, "Ada")
    ada_id = session["member"]["id"]
    assert ada.patch(f"/api/members/{ada_id}", json={"role": "admin"}).status_code == 403
    assert client.get("/api/members").status_code == 401
    changed = admin.patch(f"/api/members/{ada_id}", json={"quota": {"clips_per_day": "unlimited",
                                                                    "concurrent_jobs": 10}})
    assert changed.status_code == 200, changed.text
    assert changed.json()["quota"]["clips_per_day"] is None and changed.json()["quota"]["concurrent_jobs"] == 10
    assert ada.get("/api/me/quota").json()["limits"]["clips_per_day"] is None
    assert make(ada, variants=4).status_code == 200
    back = admin.patch(f"/api/members/{ada_id}", json={"quota": {"clips_per_day": None, "concurrent_trainings": None}})
    assert back.json()["quota_overrides"] == {"concurrent_jobs": 10}
    bad = admin.patch(f"/api/members/{ada_id}", json={"quota": {"clips_per_week": 5}})
    assert bad.status_code == 400 and "clips_per_week" in error(bad)["param"]
    assert admin.patch(f"/api/members/{ada_id}", json={"role": "moderator"}).json()["role"] == "moderator"
    own = admin.patch(f"/api/members/{admin_session['member']['id']}", json={"role": "member"})
    assert own.status_code == 403
    log = admin.get("/api/admin/audit").json()["data"]
    assert [entry["action"] for entry in log][:4] == ["member.role", "member.quota", "member.quota", "invite.create"]
    assert all(entry["actor"] == admin_session["member"]["id"] for entry in log[:3])
    figures = admin.get("/api/admin/figures").json()
    assert figures["queue_length"] == 4 and figures["members"] == 2
    assert ada.get("/api/admin/figures").status_code == 403


def test_a_suspended_member_is_signed_out_and_their_keys_stop(server):
    store, app, _ = server
    moderator, _ = join(app, store, "Mod", role="moderator")
    ada, session = join(app, store, "Ada")
    secret = ada.post("/api/me/keys", json={"name": "k"}).json()["secret"]
    make(ada)
    suspended = moderator.post(f"/api/members/{session['member']['id']}/suspend", json={"reason": "spam links"})
    assert suspended.status_code == 200 and suspended.json()["suspended"] is True
    by_key = TestClient(app).post("/api/videos", json={"prompt": "x"}, headers={"Authorization": f"Bearer {secret}"})
    assert by_key.status_code == 403 and "spam links" in error(by_key)["message"]
    assert ada.get("/api/session").json()["signed_in"] is False
    again = ada.post("/api/session", json={"name": "Ada", "password": PASSWORD})
    assert again.status_code == 403 and "spam links" in error(again)["message"]
    with store.read() as s:
        assert quotas.used(s, session["member"]["id"])["concurrent_jobs"] == 0  # its waiting clip was cancelled
    root, _ = join(app, store, "Root", role="admin")
    assert moderator.post(f"/api/members/{session['member']['id']}/reinstate").status_code == 200
    assert TestClient(app).post("/api/videos", json={"prompt": "x"},
                                headers={"Authorization": f"Bearer {secret}"}).status_code == 200
    # A moderator may not suspend an admin; an admin may not suspend themselves.
    root_id = root.get("/api/session").json()["member"]["id"]
    assert moderator.post(f"/api/members/{root_id}/suspend", json={"reason": "x"}).status_code == 403
    assert root.post(f"/api/members/{root_id}/suspend", json={"reason": "x"}).status_code == 403


def test_the_first_admin_comes_in_by_an_invite_from_the_command_line(server, monkeypatch):
    store, app, client = server
    printed = CliRunner().invoke(cli, ["invites", "create", "--role", "admin", "--url", "http://studio.example",
                                       "--db", store.url])
    assert printed.exit_code == 0, printed.output
    link = printed.stdout.strip().splitlines()[0]
    assert link.startswith("http://studio.example/join/ugi_")
    code = link.rsplit("/", 1)[1]
    signed = client.post("/api/members", json={"name": "Root", "password": PASSWORD, "invite": code})
    assert signed.json()["member"]["role"] == "admin"
    listed = CliRunner().invoke(cli, ["members", "list", "--db", store.url])
    assert "Root" in listed.stdout and "admin" in listed.stdout
    wrong = CliRunner().invoke(cli, ["invites", "create", "--role", "owner", "--db", store.url])
    assert wrong.exit_code != 0 and str(wrong.exception).startswith("role: one of member, moderator, admin")


def test_community_settings_are_checked(tmp_path):
    known, problems = settings.check({"community": {"open_signup": "yes", "clips_per_day": -1,
                                                    "gpu_seconds_per_day": "unlimited", "concurrent_job": 2}}, [])
    assert known["community"] == {"gpu_seconds_per_day": "unlimited"}
    assert len(problems) == 3 and any("did you mean concurrent_jobs" in p for p in problems)
    assert Quota().over(known["community"]).gpu_seconds_per_day is None


def test_a_member_changes_their_password_and_an_admin_resets_a_lost_one(server):
    store, app, _ = server
    ada, session = join(app, store, "Ada")
    other = TestClient(app, raise_server_exceptions=False)
    assert other.post("/api/session", json={"name": "Ada", "password": PASSWORD}).status_code == 200
    wrong = ada.put("/api/me/password", json={"current": "not it at all", "new": "a new long password"})
    assert wrong.status_code == 400 and error(wrong)["param"] == "current"
    assert ada.put("/api/me/password", json={"current": PASSWORD, "new": "a new long password"}).status_code == 200
    assert ada.get("/api/session").json()["signed_in"] is True  # this browser stays signed in
    assert other.get("/api/session").json()["signed_in"] is False  # the others are signed out
    assert other.post("/api/session", json={"name": "Ada", "password": PASSWORD}).status_code == 401
    reset = CliRunner().invoke(cli, ["members", "password", "ada", "--db", store.url],
                               input="the admin's choice\nthe admin's choice\n")
    assert reset.exit_code == 0, reset.output
    assert ada.get("/api/session").json()["signed_in"] is False
    assert other.post("/api/session", json={"name": "Ada", "password": "the admin's choice"}).status_code == 200


def test_work_done_later_for_a_member_keeps_their_quota(server):
    """A storyboard's shots are queued by the server (api/director.py) with the limits of the
    board's owner: a member's quota, not none."""
    from ungated.api.access import limits_of
    from ungated.api.errors import ApiError

    store, app, _ = server
    studio = app.state.studio
    _, session = join(app, store, "Ada")
    _, root = join(app, store, "Root", role="admin")
    ada_id = session["member"]["id"]
    assert limits_of(studio, ada_id).quota.clips_per_day == 3
    assert limits_of(studio, root["member"]["id"]).quota.clips_per_day is None
    members.suspend(store, "cli", ada_id, "spam")
    with pytest.raises(ApiError) as refused:
        limits_of(studio, ada_id)
    assert refused.value.code == "suspended"


def test_an_admins_changes_to_what_is_not_theirs_are_audited(server):
    store, app, _ = server
    admin, admin_session = join(app, store, "Root", role="admin")
    ada, _ = join(app, store, "Ada")
    own = make(admin).json()["data"][0]["id"]
    theirs = make(ada).json()["data"][0]["id"]
    assert admin.delete(f"/api/videos/{own}").status_code == 200
    assert admin.delete(f"/v1/videos/{theirs}").status_code == 200
    assert admin.post("/api/workers", json={"name": "gpu-1"}).status_code == 200
    assert admin.delete("/api/workers/gpu-1").status_code == 200
    assert ada.post("/api/workers", json={"name": "gpu-2"}).status_code == 403
    log = [(e["action"], e["target"]) for e in admin.get("/api/admin/audit").json()["data"]]
    assert log[:3] == [("worker.revoke", "gpu-1"), ("worker.add", "gpu-1"), ("video.delete", theirs)]
    assert ("video.delete", own) not in log  # one's own is no one else's business
