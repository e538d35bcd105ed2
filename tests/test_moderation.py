"""Moderation after the fact, never before, on a public server with members (in-process, on SQLite
and PostgreSQL): anyone reports a clip and it stays shared; a moderator hides it (out of the feed,
its link still plays), removes it (410 `removed` for everyone but moderators, while its artist still
sees it listed with the reason), restores it or dismisses the report; members cannot; every action
is in the audit log; a suspended member's key and session stop working."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from fastapi.testclient import TestClient

from ungated.api.app import create_app
from ungated.api.service import ServiceConfig
from ungated.jobs import members, queue
from ungated.jobs.storage import Storage
from ungated.jobs.store import Store

PASSWORD = "correct horse battery"


@dataclass
class Server:
    app: object
    store: Store
    storage: Storage
    anonymous: TestClient


@pytest.fixture
def server(tmp_path, db_url):
    store = Store(db_url)
    store.migrate()
    storage = Storage(tmp_path / "files")
    app = create_app(store, storage, ServiceConfig(public=True))
    with TestClient(app, raise_server_exceptions=False) as anonymous:
        yield Server(app, store, storage, anonymous)
    store.dispose()


def sign_up(server: Server, name: str, role: str = "member") -> TestClient:
    """A browser signed in as a new member (by an invite made on the command line), sending its CSRF token."""
    _, code = members.create_invite(server.store, "cli", role=role)
    client = TestClient(server.app, raise_server_exceptions=False)
    answer = client.post("/api/members", json={"name": name, "password": PASSWORD, "invite": code})
    assert answer.status_code == 201, answer.text
    client.headers["x-csrf-token"] = answer.json()["csrf_token"]
    client.member_id = answer.json()["member"]["id"]
    return client


def finished_clip(server: Server, artist: TestClient, prompt: str = "a red circle") -> str:
    """A clip the artist asked for, made as a worker would (no GPU): claimed, files written, completed."""
    made = artist.post("/api/videos", json={"prompt": prompt})
    assert made.status_code == 200, made.text
    video_id = made.json()["data"][0]["id"]
    claimed = queue.claim(server.store, "test-worker", ["builtin"])
    assert claimed is not None and claimed.id == video_id
    result = f"videos/{video_id}/clip.mp4"
    mp4 = server.storage.resolve(result)
    mp4.parent.mkdir(parents=True, exist_ok=True)
    for path in (mp4, mp4.with_suffix(".thumb.jpg"), mp4.with_suffix(".sprites.jpg")):
        path.write_bytes(b"not really a clip")
    assert queue.complete(server.store, video_id, claimed.lease_token, result)
    return video_id


def feed_ids(client: TestClient) -> list[str]:
    answer = client.get("/api/feed")
    assert answer.status_code == 200, answer.text
    return [video["id"] for video in answer.json()["data"]]


def reports(client: TestClient, status: str = "open") -> list[dict]:
    answer = client.get("/api/reports", params={"status": status})
    assert answer.status_code == 200, answer.text
    return answer.json()["data"]


def moderate(client: TestClient, video_id: str, action: str, reason: str = ""):
    return client.post(f"/api/videos/{video_id}/moderation", json={"action": action, "reason": reason})


def error_of(answer, status: int) -> dict:
    assert answer.status_code == status, answer.text
    return answer.json()["error"]


@pytest.fixture
def people(server):
    return {"artist": sign_up(server, "Ada"), "other": sign_up(server, "Brook"),
            "moderator": sign_up(server, "Mo", "moderator"), "admin": sign_up(server, "Root", "admin")}


def test_a_report_waits_in_the_queue_while_the_clip_stays_shared(server, people):
    video_id = finished_clip(server, people["artist"])
    anonymous = server.anonymous
    answer = anonymous.post(f"/api/videos/{video_id}/reports", json={"reason": "spam", "note": "<b>buy</b> now"})
    assert answer.status_code == 201, answer.text
    assert answer.json()["status"] == "open" and answer.json()["id"].startswith("rep_")
    # One open report per reporter per clip (anonymous reporters by their address); others may report too.
    assert error_of(anonymous.post(f"/api/videos/{video_id}/reports", json={"reason": "hate"}), 409)["code"] \
        == "duplicate"
    assert people["other"].post(f"/api/videos/{video_id}/reports", json={"reason": "copyright"}).status_code == 201

    queued = reports(people["moderator"])
    assert [(r["video"]["id"], r["reason"], r["status"]) for r in queued] == [
        (video_id, "spam", "open"), (video_id, "copyright", "open")]
    assert queued[0]["note"] == "<b>buy</b> now" and queued[0]["video"]["artist"] == "Ada"
    assert queued[0]["video"]["prompt"] == "a red circle"
    assert queued[0]["video"]["thumbnail"] == f"/v1/videos/{video_id}/content?variant=thumbnail"
    assert queued[0]["video"]["moderation"] == {"state": None, "reason": None}
    assert "reporter" not in queued[0]
    # Nothing is held for review: the clip is still in the feed, and plays.
    assert video_id in feed_ids(anonymous)
    assert anonymous.get(f"/v1/videos/{video_id}/content").status_code == 200


def test_reports_are_checked(server, people):
    video_id = finished_clip(server, people["artist"])
    post = people["other"].post
    assert error_of(post(f"/api/videos/{video_id}/reports", json={"reason": "boring"}), 400)["param"] == "reason"
    assert error_of(post(f"/api/videos/{video_id}/reports", json={"reason": "other", "note": "a\x00b"}),
                    400)["param"] == "note"
    assert error_of(post(f"/api/videos/{video_id}/reports", json={"reason": "other", "note": "n" * 1001}),
                    400)["param"] == "note"
    assert error_of(post(f"/api/videos/{video_id}/reports", json={"reason": "other", "extra": 1}), 400)
    assert error_of(post("/api/videos/video_nope/reports", json={"reason": "spam"}), 404)["code"] == "not_found"
    assert reports(people["moderator"]) == []


def test_a_reporter_has_only_so_many_reports_waiting(server, people, monkeypatch):
    from ungated.jobs import moderation

    monkeypatch.setattr(moderation, "MAX_OPEN_PER_REPORTER", 1)
    first, second = finished_clip(server, people["artist"]), finished_clip(server, people["artist"], "a blue square")
    assert server.anonymous.post(f"/api/videos/{first}/reports", json={"reason": "spam"}).status_code == 201
    refused = error_of(server.anonymous.post(f"/api/videos/{second}/reports", json={"reason": "spam"}), 429)
    assert refused["code"] == "too_many"
    assert people["other"].post(f"/api/videos/{second}/reports", json={"reason": "spam"}).status_code == 201


def test_hiding_takes_a_clip_out_of_the_feed_and_its_link_still_plays(server, people):
    artist, moderator, anonymous = people["artist"], people["moderator"], server.anonymous
    video_id = finished_clip(server, artist)
    anonymous.post(f"/api/videos/{video_id}/reports", json={"reason": "harassment"})

    assert error_of(moderate(moderator, video_id, "hide"), 400)["param"] == "reason"
    answer = moderate(moderator, video_id, "hide", "mocks a member")
    assert answer.status_code == 200, answer.text
    assert answer.json()["moderation"] == {"state": "hidden", "reason": "mocks a member"}

    assert video_id not in feed_ids(anonymous)
    shown = anonymous.get(f"/api/videos/{video_id}")
    assert shown.status_code == 200 and "moderation" not in shown.json()
    assert "moderation" not in anonymous.get(f"/v1/videos/{video_id}").json()
    assert anonymous.get(f"/v1/videos/{video_id}/content").status_code == 200
    # Its artist sees why, in the video and in their list.
    assert artist.get(f"/api/videos/{video_id}").json()["moderation"] == {"state": "hidden",
                                                                          "reason": "mocks a member"}
    mine = artist.get("/api/me/videos").json()["data"]
    assert [(v["id"], v["moderation"]["state"]) for v in mine] == [(video_id, "hidden")]
    assert artist.get(f"/v1/videos/{video_id}").json()["moderation"]["state"] == "hidden"
    # The report is resolved as actioned.
    assert reports(moderator) == []
    actioned = reports(moderator, "actioned")
    assert [r["video"]["id"] for r in actioned] == [video_id]
    assert actioned[0]["resolution"] == "hidden: mocks a member"

    assert moderate(moderator, video_id, "restore").json()["moderation"] == {"state": None, "reason": None}
    assert video_id in feed_ids(anonymous)
    assert error_of(moderate(moderator, video_id, "restore"), 409)["code"] == "not_moderated"


def test_a_removed_clip_is_gone_for_everyone_but_moderators_and_its_artist_sees_why(server, people):
    artist, other, moderator, anonymous = people["artist"], people["other"], people["moderator"], server.anonymous
    video_id = finished_clip(server, artist)
    assert other.put(f"/api/videos/{video_id}/favourite").status_code == 200
    other.post(f"/api/videos/{video_id}/reports", json={"reason": "illegal", "note": "stolen footage"})

    answer = moderate(moderator, video_id, "remove", "stolen footage")
    assert answer.status_code == 200, answer.text
    assert answer.json()["moderation"] == {"state": "removed", "reason": "stolen footage"}

    paths = [f"/api/videos/{video_id}", f"/v1/videos/{video_id}", f"/v1/videos/{video_id}/content",
             f"/v1/videos/{video_id}/content?variant=thumbnail", f"/api/videos/{video_id}/gif",
             f"/api/videos/{video_id}/preview", f"/api/videos/{video_id}/provenance",
             f"/api/videos/{video_id}/events"]
    for client in (anonymous, other):
        for path in paths:
            assert error_of(client.get(path), 410)["code"] == "removed", path
    assert video_id not in feed_ids(anonymous)
    assert other.get("/api/me/favourites").json()["data"] == []
    # Nothing new is made from it, and it cannot be reported again.
    assert error_of(other.post(f"/api/videos/{video_id}/remix", json={"prompt": "a blue circle"}), 410)["code"] \
        == "removed"
    assert error_of(other.post(f"/v1/videos/{video_id}/remix", json={"prompt": "a blue circle"}), 410)
    assert error_of(other.post(f"/api/videos/{video_id}/extend", json={}), 410)
    assert error_of(anonymous.post(f"/api/videos/{video_id}/reports", json={"reason": "spam"}), 410)

    # Its artist sees the video, with the reason, but not its files.
    for path in (f"/api/videos/{video_id}", f"/v1/videos/{video_id}"):
        shown = artist.get(path)
        assert shown.status_code == 200, shown.text
        assert shown.json()["moderation"] == {"state": "removed", "reason": "stolen footage"}
    assert [v["moderation"] for v in artist.get("/api/me/videos").json()["data"]] == [
        {"state": "removed", "reason": "stolen footage"}]
    assert error_of(artist.get(f"/v1/videos/{video_id}/content"), 410)["code"] == "removed"
    # Moderators still see it all, to review it.
    assert moderator.get(f"/api/videos/{video_id}").status_code == 200
    assert moderator.get(f"/v1/videos/{video_id}/content").status_code == 200

    assert moderate(moderator, video_id, "restore").status_code == 200
    assert anonymous.get(f"/v1/videos/{video_id}/content").status_code == 200
    assert video_id in feed_ids(anonymous)


def test_dismissing_a_report_leaves_the_clip_shared(server, people):
    moderator = people["moderator"]
    video_id = finished_clip(server, people["artist"])
    report_id = people["other"].post(f"/api/videos/{video_id}/reports", json={"reason": "other"}).json()["id"]
    answer = moderator.post(f"/api/reports/{report_id}/dismiss", json={"reason": "not against the rules"})
    assert answer.status_code == 200, answer.text
    assert answer.json()["status"] == "dismissed" and answer.json()["resolution"] == "not against the rules"
    assert reports(moderator) == [] and [r["id"] for r in reports(moderator, "dismissed")] == [report_id]
    assert error_of(moderator.post(f"/api/reports/{report_id}/dismiss", json={}), 409)["code"] == "not_open"
    assert error_of(moderator.post("/api/reports/rep_nope/dismiss", json={}), 404)
    assert video_id in feed_ids(server.anonymous)
    # Once dismissed, the same reporter may report it again.
    assert people["other"].post(f"/api/videos/{video_id}/reports", json={"reason": "spam"}).status_code == 201


def test_only_moderators_see_the_queue_and_act(server, people):
    video_id = finished_clip(server, people["artist"])
    report_id = server.anonymous.post(f"/api/videos/{video_id}/reports", json={"reason": "spam"}).json()["id"]
    for client, status in ((server.anonymous, 401), (people["other"], 403), (people["artist"], 403)):
        assert error_of(client.get("/api/reports"), status)
        assert error_of(moderate(client, video_id, "hide", "mine now"), status)
        assert error_of(moderate(client, video_id, "remove", "mine now"), status)
        assert error_of(client.post(f"/api/reports/{report_id}/dismiss", json={}), status)
    # A moderator's cookie write needs the page's CSRF token too.
    forged = moderate(TestClient(server.app, cookies=people["moderator"].cookies), video_id, "remove", "forged")
    assert error_of(forged, 403)["code"] == "csrf_failed"
    assert video_id in feed_ids(server.anonymous)
    assert [r["id"] for r in reports(people["moderator"])] == [report_id]
    assert [r["id"] for r in reports(people["admin"])] == [report_id]


def test_every_action_is_in_the_audit_log(server, people):
    moderator, admin = people["moderator"], people["admin"]
    video_id = finished_clip(server, people["artist"])
    report_id = people["other"].post(f"/api/videos/{video_id}/reports", json={"reason": "hate"}).json()["id"]
    moderator.post(f"/api/reports/{report_id}/dismiss", json={"reason": "fine"})
    moderate(moderator, video_id, "hide", "off topic")
    moderate(moderator, video_id, "remove", "hateful")
    moderate(admin, video_id, "restore")

    assert error_of(moderator.get("/api/admin/audit"), 403)
    entries = admin.get("/api/admin/audit").json()["data"]
    ours = [(e["actor"], e["action"], e["target"]) for e in entries if e["action"].startswith(("video.", "report."))]
    mod, root = moderator.member_id, admin.member_id
    assert ours == [(root, "video.restore", video_id), (mod, "video.remove", video_id),
                    (mod, "video.hide", video_id), (mod, "report.dismiss", report_id)]
    by_action = {e["action"]: e["detail"] for e in entries}
    assert by_action["video.remove"]["reason"] == "hateful" and by_action["video.remove"]["before"] == "hidden"
    assert by_action["report.dismiss"] == {"video": video_id, "reason": "fine"}


def test_a_suspended_member_is_blocked_by_key_and_by_session(server, people):
    artist, moderator = people["artist"], people["moderator"]
    secret = artist.post("/api/me/keys", json={"name": "script"}).json()["secret"]
    by_key = TestClient(server.app, raise_server_exceptions=False, headers={"authorization": f"Bearer {secret}"})
    assert by_key.get("/api/me/videos").status_code == 200

    assert error_of(people["other"].post(f"/api/members/{artist.member_id}/suspend", json={"reason": "spam"}), 403)
    answer = moderator.post(f"/api/members/{artist.member_id}/suspend", json={"reason": "posting spam"})
    assert answer.status_code == 200, answer.text

    refused = error_of(by_key.post("/api/videos", json={"prompt": "a red circle"}), 403)
    assert refused["code"] == "suspended" and "posting spam" in refused["message"]
    # Their sessions ended with the suspension, and signing in again says why.
    assert artist.get("/api/me/videos").status_code in (401, 403)
    again = server.anonymous.post("/api/session", json={"name": "Ada", "password": PASSWORD})
    assert error_of(again, 403)["code"] == "suspended"

    assert moderator.post(f"/api/members/{artist.member_id}/reinstate").status_code == 200
    assert by_key.get("/api/me/videos").status_code == 200
    actions = [e["action"] for e in people["admin"].get("/api/admin/audit").json()["data"]]
    assert actions[:2] == ["member.reinstate", "member.suspend"]
