"""A prompt the artist keeps private (`"provenance": {"publish_prompt": false}`) stays theirs
everywhere the server shows the clip: out of the feed unless they list it, and without its prompt,
negative prompt and seed to anyone but them and admins (the studio API, the /v1 API, remix, retry).
In-process, on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import update

from ungated.api.app import create_app
from ungated.api.service import ServiceConfig
from ungated.jobs import keys, queue
from ungated.jobs.schema import Video
from ungated.jobs.storage import Storage

SECRET = "a small red circle moving right on a blue background"
PRIVATE = {"prompt": SECRET, "negative_prompt": "blur", "seed": 77, "provenance": {"publish_prompt": False}}


@pytest.fixture
def server(tmp_path, store):
    app = create_app(store, Storage(tmp_path / "files"), ServiceConfig(public=True))
    bearer = {name: {"authorization": f"Bearer {keys.create(store, name, admin=name == 'admin')[1]}"}
              for name in ("ada", "bob", "admin")}
    with TestClient(app) as client:
        yield client, bearer, store


def finish(store, video_id: str) -> None:
    with store.write() as session:
        session.execute(update(Video).where(Video.id == video_id).values(status=queue.COMPLETED, result="x.mp4"))


def test_a_private_prompt_is_shown_only_to_its_artist_and_admins(server):
    api, bearer, store = server
    made = api.post("/api/videos", json=PRIVATE, headers=bearer["ada"]).json()["data"][0]
    assert made["prompt"] == SECRET and made["seed"] == 77 and made["prompt_private"]
    assert made["public"] is False  # kept out of the feed unless the artist lists it
    finish(store, made["id"])
    assert api.get("/api/feed").json()["data"] == []

    for who in ("ada", "admin"):
        seen = api.get(f"/api/videos/{made['id']}", headers=bearer[who]).json()
        assert seen["prompt"] == SECRET and seen["seed"] == 77 and seen["request"]["negative_prompt"] == "blur"
        assert api.get(f"/v1/videos/{made['id']}", headers=bearer[who]).json()["prompt"] == SECRET
    for headers in (bearer["bob"], {}):
        seen = api.get(f"/api/videos/{made['id']}", headers=headers).json()
        assert seen["prompt"] is None and seen["seed"] is None and seen["prompt_private"]
        assert "prompt" not in seen["request"] and "negative_prompt" not in seen["request"]
        assert SECRET not in api.get(f"/v1/videos/{made['id']}", headers=headers).text

    # Listed by its artist: in the feed, still without its prompt for everyone else.
    api.patch(f"/api/videos/{made['id']}", json={"public": True}, headers=bearer["ada"])
    (listed,) = api.get("/api/feed").json()["data"]
    assert listed["id"] == made["id"] and listed["prompt"] is None and listed["seed"] is None
    assert SECRET not in api.get("/api/feed", headers=bearer["bob"]).text


def test_others_remix_a_private_prompt_only_with_their_own(server):
    api, bearer, _ = server
    made = api.post("/api/videos", json=PRIVATE, headers=bearer["ada"]).json()["data"][0]
    for path, body in ((f"/api/videos/{made['id']}/remix", {}), (f"/api/videos/{made['id']}/retry", None)):
        refused = api.post(path, json=body, headers=bearer["bob"])
        assert refused.status_code == 400 and refused.json()["error"]["param"] == "prompt"
    theirs = api.post(f"/api/videos/{made['id']}/remix", json={"prompt": "a green star spinning"},
                      headers=bearer["bob"]).json()["data"][0]
    assert theirs["prompt"] == "a green star spinning" and theirs["seed"] != 77
    assert "negative_prompt" not in theirs["request"] or theirs["request"]["negative_prompt"] != "blur"
    via_v1 = api.post(f"/v1/videos/{made['id']}/remix", json={"prompt": "a blue square growing"},
                      headers=bearer["bob"]).json()
    assert via_v1["prompt"] == "a blue square growing"
    # Its artist remixes with everything, seed included.
    own = api.post(f"/api/videos/{made['id']}/remix", json={}, headers=bearer["ada"]).json()["data"][0]
    assert own["prompt"] == SECRET and own["seed"] == 77


def test_a_published_prompt_is_listed_and_shown_as_before(server):
    api, bearer, store = server
    made = api.post("/api/videos", json={"prompt": SECRET, "seed": 5}, headers=bearer["ada"]).json()["data"][0]
    assert made["public"] is True and not made["prompt_private"]
    finish(store, made["id"])
    (listed,) = api.get("/api/feed").json()["data"]
    assert listed["prompt"] == SECRET and listed["seed"] == 5
