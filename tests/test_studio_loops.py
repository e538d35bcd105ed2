"""Loops and any-size models through the studio API, in-process, against engines that exist only as
capabilities: what /api/models says, `loop` on create, the video page's Loop (a remix with loop on)
and Extend of a loop, and the refusals, each naming `loop` and writing nothing."""

from __future__ import annotations

import base64

import numpy as np
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import update

from ungated.jobs import queue
from ungated.jobs.schema import Video
from ungated.media.encode import Mp4Writer

from .fake_engines import ANY_ASPECT, ONE_SIZE, app_serving

PROMPT = "a small red circle orbiting a blue square"


@pytest.fixture
def looping(tmp_path):
    with TestClient(app_serving(tmp_path, ANY_ASPECT, extend_input=True)) as api:
        yield api


def write_clip(path, frames: int = 16) -> None:
    with Mp4Writer(path, 64, 64, 8, {}) as writer:
        for i in range(frames):
            writer.write(np.full((64, 64, 3), i * 8, np.uint8))


def inputs_written(api: TestClient) -> list:
    folder = api.app.state.studio.storage.root / "inputs"
    return sorted(folder.iterdir()) if folder.exists() else []


def test_the_model_listing_says_what_a_model_makes(looping):
    models = {m["id"]: m["capabilities"] for m in looping.get("/api/models").json()["data"]}
    caps = models["builtin"]
    assert caps["any_aspect"] and caps["loop"] and caps["extend_input"]
    assert caps["seconds_range"] == [2, 20] and caps["max_seconds"] == 20 and caps["default_seconds"] == 5
    assert caps["fps"] == list(range(8, 31)) and caps["default_fps"] == 24
    assert caps["frames"] == {"min": 16, "max": 600, "step": 1}
    assert caps["verbs"]["loop"] and caps["verbs"]["extend"] and caps["verbs"]["recut"]
    other = models["ltx-video"]  # a model with native sizes, a frame rule, and loops only from an image
    assert not other["any_aspect"] and other["seconds_range"] is None
    assert other["loop"] and other["loop_needs_image"] and not other["verbs"]["edit"]
    assert not any(models["mochi-1"]["verbs"].values())  # text to video, and nothing more


def test_a_loop_is_queued_and_the_loop_action_makes_a_looping_version(looping):
    api = looping
    made = api.post("/api/videos", json={"prompt": PROMPT, "size": "720x1280", "seconds": 8, "loop": True})
    assert made.status_code == 200, made.text
    video = made.json()["data"][0]
    assert video["request"]["loop"] is True and (video["size"], video["seconds"]) == ("720x1280", 8)

    plain = api.post("/api/videos", json={"prompt": PROMPT, "aspect": "9:16", "resolution": "1080p", "seconds": 3,
                                          "seed": 5}).json()["data"][0]
    assert "loop" not in plain["request"]  # stored only when asked, as workers of older versions read requests
    looped = api.post(f"/api/videos/{plain['id']}/remix", json={"loop": True}).json()["data"][0]
    assert looped["remixed_from"] == plain["id"] and looped["request"]["loop"] is True
    assert (looped["prompt"], looped["seed"], looped["size"], looped["seconds"]) == (PROMPT, 5, "1080x1920", 3)

    form = api.post("/api/videos", data={"prompt": PROMPT, "loop": "true"})  # the form with an image sends strings
    assert form.status_code == 200 and form.json()["data"][0]["request"]["loop"] is True


def test_extending_a_loop_continues_it_without_looping(looping):
    api = looping
    source = api.post("/api/videos", json={"prompt": PROMPT, "seconds": 2, "loop": True}).json()["data"][0]
    storage, store = api.app.state.studio.storage, api.app.state.studio.store
    clip = storage.root / "videos" / source["id"] / "clip.mp4"
    clip.parent.mkdir(parents=True)
    write_clip(clip)
    with store.write() as session:
        session.execute(update(Video).where(Video.id == source["id"]).values(
            status=queue.COMPLETED, result=storage.relative(clip)))
    extended = api.post(f"/api/videos/{source['id']}/extend", json={"seconds": 2})
    assert extended.status_code == 200, extended.text
    video = extended.json()["data"][0]
    assert "loop" not in video["request"] and video["inputs"] == ["extend"]


def test_a_loop_is_refused_by_a_model_that_does_not_loop_and_nothing_is_queued(tmp_path):
    with TestClient(app_serving(tmp_path, ONE_SIZE)) as api:
        for path in ("/api/videos", "/api/plan"):
            refused = api.post(path, json={"prompt": PROMPT, "loop": True})
            assert refused.status_code == 400
            error = refused.json()["error"]
            assert error["param"] == "loop" and error["message"] == "loop: model builtin does not make loops"
        assert api.get("/api/me/videos").json()["data"] == []


@pytest.mark.parametrize(("body", "message"), [
    ({"loop": "sometimes"}, "loop: input should be a valid boolean"),
    ({"loop": True, "extend": "CLIP"}, "loop: a loop is one whole clip that returns to its first frame"),
])
def test_bad_loops_are_a_400_naming_loop_and_write_nothing(looping, tmp_path, body, message):
    api = looping
    write_clip(tmp_path / "clip.mp4")
    url = "data:video/mp4;base64," + base64.b64encode((tmp_path / "clip.mp4").read_bytes()).decode()
    fields = {name: url if value == "CLIP" else value for name, value in body.items()}
    refused = api.post("/api/videos", json={"prompt": PROMPT, **fields})
    assert refused.status_code == 400
    error = refused.json()["error"]
    assert error["param"] == "loop" and error["message"].startswith(message)
    assert api.get("/api/me/videos").json()["data"] == [] and inputs_written(api) == []
