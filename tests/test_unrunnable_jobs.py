"""Jobs that could never run are refused, or said to wait, when they are asked for: a model whose
weights this server's workers lack is refused at submit time (naming the model and the fix), and
on a server with no workers of its own a queued video has no ETA and says it waits for a worker."""

from __future__ import annotations

import httpx
import pytest

from .service import Server

PROMPT = "a small red circle moving right on a blue background"


@pytest.fixture
def sqlite_url(tmp_path) -> str:
    return f"sqlite:///{tmp_path / 'store.db'}"


def test_a_model_without_weights_is_refused_when_asked_for(tmp_path, sqlite_url):
    server = Server(tmp_path, sqlite_url, extra=("--models", "builtin,ltx-video")).start()
    try:
        api = httpx.Client(base_url=server.base, timeout=30)
        for path in ("/api/videos", "/v1/videos"):
            refused = api.post(path, json={"prompt": PROMPT, "model": "ltx-video"})
            assert refused.status_code == 400, refused.text
            error = refused.json()["error"]
            assert error["param"] == "model" and "weights" in error["message"]
            assert "ungated models pull ltx-video" in error["message"]
        models = {m["id"]: m for m in api.get("/api/models").json()["data"]}
        assert models["builtin"]["served"] and not models["ltx-video"]["served"]
        assert api.post("/api/videos", json={"prompt": PROMPT, "steps": 4}).status_code == 200
    finally:
        server.stop()
    assert "ltx-video" in (tmp_path / "serve.log").read_text()  # the operator is told at start


def test_with_no_workers_a_queued_video_says_it_waits_for_one(tmp_path, sqlite_url):
    server = Server(tmp_path, sqlite_url, workers=0).start()
    try:
        api = httpx.Client(base_url=server.base, timeout=30)
        made = api.post("/api/videos", json={"prompt": PROMPT}).json()["data"][0]
        assert made["waiting_for_worker"] and made["eta_seconds"] is None
        seen = api.get(f"/api/videos/{made['id']}").json()
        assert seen["status"] == "queued" and seen["queue_position"] == 0
        assert seen["waiting_for_worker"] and seen["eta_seconds"] is None
    finally:
        server.stop()


def test_with_its_own_workers_a_queued_video_has_an_eta_at_once(tmp_path, sqlite_url):
    server = Server(tmp_path, sqlite_url).start()
    try:
        made = httpx.post(f"{server.base}/api/videos", json={"prompt": PROMPT, "variants": 2}, timeout=30).json()
        assert all(not v["waiting_for_worker"] and v["eta_seconds"] is not None for v in made["data"])
    finally:
        server.stop()
