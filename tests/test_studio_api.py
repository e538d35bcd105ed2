"""The studio API at /api against a real `ungated serve`: variants, live events, the feed,
favourites, artist credit, share links, cancel and retry; and a public server's keys and limits."""

from __future__ import annotations

import http.client
import json
import os
import subprocess
import sys

import httpx

from ungated.api.studio import capabilities
from ungated.engines.builtin.engine import BuiltinEngine

from .service import Server

PROMPT = "a small red circle moving right on a blue background"


def events(base: str, video_id: str) -> list[tuple[str, dict]]:
    """Every Server-Sent Event of a video, until its last."""
    seen = []
    with httpx.stream("GET", f"{base}/api/videos/{video_id}/events", timeout=120) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        name = None
        for line in response.iter_lines():
            if line.startswith("event:"):
                name = line.partition(":")[2].strip()
            elif line.startswith("data:"):
                seen.append((name, json.loads(line.partition(":")[2])))
                if name == "done":
                    break
    return seen


def test_variants_feed_favourites_credit_and_sharing(server):
    api = httpx.Client(base_url=server.base, timeout=30)
    models = {m["id"]: m for m in api.get("/api/models").json()["data"]}
    assert models["builtin"]["served"] and models["builtin"]["weights_present"]
    assert models["builtin"]["capabilities"] == capabilities(BuiltinEngine().capabilities)  # the engine's own

    assert api.put("/api/me", json={"artist": "Ada"}).json()["artist"] == "Ada"
    made = api.post("/api/videos", json={"prompt": PROMPT, "variants": 2, "seed": 41, "steps": 12}).json()
    first, second = made["data"]
    assert first["batch_id"] == second["batch_id"] == made["batch_id"]
    assert (first["seed"], second["seed"]) == (41, 42) and first["artist"] == "Ada" and first["mine"]
    assert first["request"]["steps"] == 12 and first["links"]["share"] == f"/v/{first['id']}"

    for video in made["data"]:
        assert events(server.base, video["id"])[-1][1]["status"] == "completed"
    feed = api.get("/api/feed").json()["data"]
    assert {v["id"] for v in feed} == {first["id"], second["id"]}
    assert api.get(feed[0]["links"]["thumbnail"]).headers["content-type"] == "image/jpeg"

    # Unlisted: gone from the feed, still open by its link; credited to whom the owner says.
    changed = api.patch(f"/api/videos/{first['id']}", json={"public": False, "artist": "Ada L."}).json()
    assert changed["public"] is False and changed["artist"] == "Ada L."
    assert [v["id"] for v in api.get("/api/feed").json()["data"]] == [second["id"]]
    assert httpx.get(f"{server.base}/api/videos/{first['id']}").json()["status"] == "completed"

    assert api.put(f"/api/videos/{second['id']}/favourite").json()["favourite"]
    assert [v["id"] for v in api.get("/api/me/favourites").json()["data"]] == [second["id"]]
    assert api.get(f"/api/videos/{second['id']}").json()["favourite"] is True
    api.delete(f"/api/videos/{second['id']}/favourite")
    assert api.get("/api/me/favourites").json()["data"] == []

    extended = api.post(f"/api/videos/{first['id']}/extend", json={"seconds": 2})
    if models["builtin"]["capabilities"]["extend_input"]:  # a new video, from its own copy of the clip
        extension = extended.json()["data"][0]
        assert extension["remixed_from"] == first["id"] and extension["inputs"] == ["extend"]
        assert api.delete(f"/api/videos/{extension['id']}").json()["deleted"]
    else:
        assert extended.status_code == 400 and extended.json()["error"]["param"] == "extend"
        assert "does not continue clips" in extended.json()["error"]["message"]

    remix = api.post(f"/api/videos/{first['id']}/remix", json={"prompt": "a green star spinning",
                                                               "guidance": 3.0}).json()["data"][0]
    assert remix["remixed_from"] == first["id"] and remix["seed"] == 41
    assert remix["request"]["guidance"] == 3.0 and remix["request"]["steps"] == 12
    mine = api.get("/api/me/videos", params={"limit": 2}).json()
    assert mine["data"][0]["id"] == remix["id"] and mine["has_more"]
    later = api.get("/api/me/videos", params={"limit": 2, "after": mine["last_id"]}).json()
    assert not later["has_more"]
    assert [v["id"] for v in mine["data"] + later["data"]] == [remix["id"], *[v["id"] for v in mine["data"][1:]],
                                                               *[v["id"] for v in later["data"]]]
    assert {v["id"] for v in mine["data"] + later["data"]} == {remix["id"], first["id"], second["id"]}

    assert api.delete(f"/api/videos/{first['id']}").json()["deleted"]
    gone = api.get(f"/api/videos/{first['id']}")
    assert gone.status_code == 404 and gone.json()["error"]["code"] == "not_found"


def test_events_follow_a_job_from_the_queue_to_done(server):
    api = httpx.Client(base_url=server.base, timeout=30)
    made = api.post("/api/videos", json={"prompt": PROMPT, "steps": 200, "variants": 3}).json()["data"]
    seen = events(server.base, made[-1]["id"])
    positions = [data["queue_position"] for name, data in seen if data["status"] == "queued"]
    assert positions[0] == 2 and positions == sorted(positions, reverse=True)
    assert all(data["eta_seconds"] > 0 for name, data in seen if data["status"] == "queued")
    assert all(data["eta_seconds"] is not None for name, data in seen if name == "progress")
    assert [name for name, _ in seen].count("done") == 1 and seen[-1][0] == "done"
    assert seen[-1][1]["status"] == "completed" and seen[-1][1]["progress"] == 100


def test_cancel_and_retry(server):
    api = httpx.Client(base_url=server.base, timeout=30)
    slow = api.post("/api/videos", json={"prompt": PROMPT, "steps": 200}).json()["data"][0]
    queued = api.post("/api/videos", json={"prompt": PROMPT, "steps": 5}).json()["data"][0]
    assert api.post(f"/api/videos/{queued['id']}/cancel").json()["status"] == "cancelled"
    api.post(f"/api/videos/{slow['id']}/cancel")
    assert events(server.base, slow["id"])[-1][1]["status"] == "cancelled"
    again = api.post(f"/api/videos/{queued['id']}/retry").json()["data"][0]
    assert again["seed"] == queued["seed"] and again["remixed_from"] == queued["id"]
    assert events(server.base, again["id"])[-1][1]["status"] == "completed"


def test_bad_input_is_a_clear_4xx(tmp_path):
    server = Server(tmp_path, f"sqlite:///{tmp_path / 'store.db'}", workers=0).start()
    try:
        api = httpx.Client(base_url=server.base, timeout=30)
        cases = [
            ({"prompt": PROMPT, "variants": 9}, "variants"),
            ({"prompt": PROMPT, "aspect": "4:3"}, "aspect"),
            ({"prompt": PROMPT, "public": "maybe"}, "public"),
            ({"prompt": PROMPT, "image": "http://example.com/cat.png"}, "image"),
            ({"prompt": PROMPT, "image": "data:image/png;base64,bm90IGFuIGltYWdl"}, "image"),
            ({"prompt": PROMPT, "model": ["builtin"]}, "model"),
            ({"prompt": PROMPT, "colour": "red"}, "colour"),
        ]
        for body, field in cases:
            answer = api.post("/api/videos", json=body)
            assert answer.status_code == 400, (body, answer.text)
            assert answer.json()["error"]["param"] == field, answer.json()
        raw = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)  # refused before the body is sent
        raw.putrequest("POST", "/api/videos")
        raw.putheader("Content-Type", "application/json")
        raw.putheader("Content-Length", str(200 * 2**20))
        raw.endheaders()
        refused = raw.getresponse()
        assert refused.status == 413 and json.loads(refused.read())["error"]["code"] == "request_too_large"
        assert api.get("/api/me/videos").json()["data"] == []  # nothing was queued
        assert not list(tmp_path.glob("files/inputs/*"))  # the refused image was not kept
    finally:
        server.stop()


def create_key(server: Server, name: str, *options: str) -> str:
    done = subprocess.run([sys.executable, "-m", "ungated", "keys", "create", name, "--db", server.db_url, *options],
                          env={**os.environ, "UNGATED_HOME": str(server.home)}, capture_output=True, text=True,
                          check=True)
    assert done.stdout.startswith("ugk_") and done.stdout.strip() not in done.stderr
    return done.stdout.strip()


def test_public_server_keys_and_limits(tmp_path):
    server = Server(tmp_path, f"sqlite:///{tmp_path / 'store.db'}", workers=0, extra=("--public",)).start()
    try:
        anonymous = httpx.Client(base_url=server.base, timeout=30)
        refused = anonymous.post("/api/videos", json={"prompt": PROMPT})
        assert refused.status_code == 401 and refused.json()["error"]["type"] == "authentication_error"
        assert anonymous.get("/v1/videos").status_code == 401
        wrong = anonymous.post("/v1/videos", json={"prompt": PROMPT}, headers={"authorization": "Bearer ugk_nope"})
        assert wrong.status_code == 401 and wrong.json()["error"]["code"] == "invalid_api_key"

        def client(secret: str) -> httpx.Client:
            return httpx.Client(base_url=server.base, timeout=30, headers={"authorization": f"Bearer {secret}"})

        ada = client(create_key(server, "Ada", "--per-minute", "3", "--concurrent", "10"))
        bob = client(create_key(server, "Bob", "--concurrent", "2"))
        admin = client(create_key(server, "Admin", "--admin"))

        made = ada.post("/api/videos", json={"prompt": PROMPT, "variants": 3}).json()["data"]
        over = ada.post("/v1/videos", json={"prompt": PROMPT})
        assert over.status_code == 429 and "a minute" in over.json()["error"]["message"]
        assert over.json()["error"]["type"] == "rate_limit_error"
        too_many = bob.post("/api/videos", json={"prompt": PROMPT, "variants": 3})
        assert too_many.status_code == 429 and "at once" in too_many.json()["error"]["message"]

        theirs = made[0]["id"]
        assert anonymous.get(f"/api/videos/{theirs}").json()["mine"] is False  # a share link opens for anyone
        assert bob.get("/api/me/videos").json()["data"] == []
        assert bob.delete(f"/api/videos/{theirs}").status_code == 403
        assert bob.patch(f"/api/videos/{theirs}", json={"public": False}).status_code == 403
        assert admin.delete(f"/api/videos/{theirs}").status_code == 200
        assert len(ada.get("/v1/videos").json()["data"]) == 2
    finally:
        server.stop()
