"""Training in the studio: datasets uploaded as a zip or file by file, a training run queued through
the API and done by a worker from the same queue as videos, its live loss curve and samples, cancel
and resume from the checkpoint, its outputs; a LoRA run's result joins the LoRA library. On SQLite
and PostgreSQL."""

from __future__ import annotations

import io
import json
import threading
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient

from ungated.api.app import create_app
from ungated.api.service import ServiceConfig
from ungated.engines.catalog import get_engine
from ungated.jobs import queue
from ungated.jobs.storage import Storage
from ungated.jobs.worker import Worker
from ungated.request import Request, plan as make_plan
from ungated.train.common import LOG_FILE
from ungated.train.demo_data import write_demo_dataset

WAN = "wan2.1-t2v-1.3b"


@pytest.fixture(scope="module")
def clips_dir(tmp_path_factory) -> Path:
    return write_demo_dataset(tmp_path_factory.mktemp("studio-clips"), width=96, height=64, seconds=1.5, fps=8,
                              scenes=["ball", "sunset", "snow"])


def zipped(folder: Path, top: str = "my-clips") -> bytes:
    """The folder as a zip with the folder itself at the top, as zipping it in a file manager does."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for path in sorted(folder.iterdir()):
            archive.write(path, f"{top}/{path.name}")
        archive.writestr(f"{top}/.DS_Store", b"")
    return buffer.getvalue()


@pytest.fixture
def studio(store, tmp_path):
    storage = Storage(tmp_path / "files")
    app = create_app(store, storage, ServiceConfig(models=["builtin", WAN]))
    with TestClient(app) as client:
        yield client, storage


def work_until_idle(store, storage, models=("builtin",)) -> None:
    """One worker, in this process, taking jobs until the queue has none for it."""
    runner = Worker(store, storage, list(models))
    while (job := queue.claim_next(store, runner.id, runner.serving())) is not None:
        runner.train(job) if job.id.startswith(queue.TRAINING_PREFIX) else runner.run(job)


def test_datasets_upload_as_a_zip_or_file_by_file_and_check(studio, clips_dir):
    api, storage = studio
    added = api.put("/api/datasets/shots", content=zipped(clips_dir)).json()
    assert added == {"name": "shots", "files": 6, "size_bytes": added["size_bytes"]}
    report = api.get("/api/datasets/shots").json()
    assert report["summary"]["clips"] == 3 and report["problems"] == []

    # File by file, as the web studio sends a chosen folder; a clip with no caption is a problem.
    clip = sorted(clips_dir.glob("*.mp4"))[0]
    assert api.put(f"/api/datasets/more/files/{clip.name}", content=clip.read_bytes()).json()["files"] == 1
    [problem] = api.get("/api/datasets/more").json()["problems"]
    assert problem["path"] == clip.name and problem["what"].startswith("no caption")
    api.put(f"/api/datasets/more/files/{clip.stem}.txt", content=b"a ball")
    assert api.get("/api/datasets/more").json()["summary"]["clips"] == 1
    assert [d["name"] for d in api.get("/api/datasets").json()["data"]] == ["more", "shots"]

    # Refused, naming the field, with nothing written.
    before = sorted(p.relative_to(storage.root) for p in storage.root.rglob("*") if p.is_file())
    for path, param in (("..%2Fescape.mp4", "path"), ("notes.exe", "path"), ("a/b/c.png", "path"),
                        (".hidden.mp4", "path")):
        answer = api.put(f"/api/datasets/more/files/{path}", content=b"x")
        assert answer.status_code == 400 and answer.json()["error"]["param"] == param, (path, answer.json())
    for name, body in (("bad name", zipped(clips_dir)), ("notzip", b"not a zip")):
        answer = api.put(f"/api/datasets/{name}", content=body)
        assert answer.status_code == 400, answer.json()
    assert sorted(p.relative_to(storage.root) for p in storage.root.rglob("*") if p.is_file()) == before
    assert api.get("/api/datasets/nothing").status_code == 404
    assert api.delete("/api/datasets/more").json()["deleted"]
    assert [d["name"] for d in api.get("/api/datasets").json()["data"]] == ["shots"]


def test_a_builtin_training_run_goes_through_the_queue_and_its_model_generates(studio, store, clips_dir):
    api, storage = studio
    api.put("/api/datasets/shots", content=zipped(clips_dir))
    queued = api.post("/api/trainings", json={"name": "my-style", "dataset": "shots", "steps": 4, "batch": 2,
                                              "sample_every": 2, "sample_prompt": "a red ball"}).json()
    assert queued["status"] == "queued" and queued["steps"] == 4 and queued["dataset"] == "shots"
    # A video queued after it waits its turn: the queue is one.
    api.post("/api/videos", json={"prompt": "a small red circle", "steps": 2})
    assert queue.claim_next(store, "peek", ["builtin"]).id == queued["id"]
    queue.release(store, queued["id"], _token(store, queued["id"]))
    work_until_idle(store, storage)

    done = api.get(f"/api/trainings/{queued['id']}").json()
    assert done["status"] == "completed" and done["progress"] == 100 and done["error"] is None, done
    assert [point[0] for point in done["losses"]] == [1, 2, 3, 4]
    assert [s["step"] for s in done["samples"]] == [2]
    outputs = {o["name"]: o["url"] for o in done["outputs"]}
    assert set(outputs) == {"model/config.json", "model/model.safetensors", "model/sample.mp4", "model/loss.png"}
    assert api.get(outputs["model/loss.png"]).headers["content-type"] == "image/png"
    assert api.get(done["samples"][0]["url"]).content[4:8] == b"ftyp"
    assert api.get(f"/api/trainings/{queued['id']}/files/work/checkpoint.pt").status_code == 404
    assert [t["id"] for t in api.get("/api/trainings").json()["data"]] == [queued["id"]]

    # The trained model generates, from the folder the run lists.
    engine = get_engine("builtin", storage.root / "trainings" / queued["id"] / "out" / "model")
    request = Request.build(prompt="a red ball", seed=1)
    the_plan = make_plan(request, engine.capabilities, engine.id)
    frames = list(engine.generate(the_plan, 1, lambda step, total: None, lambda: False))
    assert len(frames) == the_plan.total_frames and np.asarray(frames[0]).shape == (64, the_plan.width, 3)

    # And in the studio, as the model builtin/NAME, made by any worker serving builtin.
    assert done["model_id"] == "builtin/my-style"
    # which a later run fine-tunes (a LoRA cannot start from it; an unknown one is refused).
    again = api.post("/api/trainings", json={"name": "my-style-more", "dataset": "shots", "steps": 2, "batch": 2,
                                             "sample_every": 0, "init": "builtin/my-style"}).json()
    for bad in ({"init": "builtin/nobody"}, {"init": "builtin/my-style", "model": WAN, "rank": 4}):
        answer = api.post("/api/trainings", json={"name": "x", "dataset": "shots", **bad})
        assert answer.status_code == 400 and answer.json()["error"]["param"] == "init", answer.json()
    work_until_idle(store, storage)
    tuned = api.get(f"/api/trainings/{again['id']}").json()
    assert tuned["status"] == "completed" and tuned["model_id"] == "builtin/my-style-more", tuned
    models = {m["id"]: m for m in api.get("/api/models").json()["data"]}
    assert models["builtin/my-style"]["served"] and models["builtin/my-style"]["capabilities"]["fps"] == [8]
    video = api.post("/api/videos", json={"prompt": "a red ball", "model": "builtin/my-style", "steps": 4}).json()
    work_until_idle(store, storage)
    made = api.get(f"/api/videos/{video['data'][0]['id']}").json()
    assert (made["status"], made["model"]) == ("completed", "builtin/my-style"), made
    assert api.post("/api/videos", json={"prompt": "x", "model": "builtin/nobody"}).status_code == 400
    waiting = api.post("/api/videos", json={"prompt": "a red ball", "model": "builtin/my-style"}).json()
    assert api.delete("/api/models/builtin/my-style").json()["deleted"]
    gone = api.get(f"/api/videos/{waiting['data'][0]['id']}").json()
    assert gone["status"] == "failed" and gone["error"]["code"] == "model_removed"  # not queued forever
    assert "builtin/my-style" not in {m["id"] for m in api.get("/api/models").json()["data"]}
    assert api.delete("/api/models/builtin/my-style").status_code == 404

    assert api.delete(f"/api/trainings/{queued['id']}").json()["deleted"]
    assert not (storage.root / "trainings" / queued["id"]).exists()


def _token(store, training_id: str) -> str:
    from ungated.jobs.schema import Training

    with store.read() as session:
        return session.get(Training, training_id).lease_token


def test_a_cancelled_run_resumes_from_its_checkpoint(studio, store, clips_dir):
    api, storage = studio
    api.put("/api/datasets/shots", content=zipped(clips_dir))
    run_id = api.post("/api/trainings", json={"name": "long", "dataset": "shots", "steps": 40, "batch": 1,
                                              "sample_every": 0}).json()["id"]
    runner = Worker(store, storage, ["builtin"])
    serving = threading.Thread(target=runner.serve)
    serving.start()
    try:
        deadline = time.monotonic() + 120
        while api.get(f"/api/trainings/{run_id}").json()["step"] < 3:
            assert time.monotonic() < deadline
            time.sleep(0.1)
        assert api.post(f"/api/trainings/{run_id}/cancel").json()["status"] == "in_progress"
        while (state := api.get(f"/api/trainings/{run_id}").json())["status"] != "cancelled":
            assert time.monotonic() < deadline
            time.sleep(0.1)
        stopped_at = len(state["losses"])
        assert 3 <= stopped_at < 40
        assert api.post(f"/api/trainings/{run_id}/resume").json()["status"] == "queued"
        while (state := api.get(f"/api/trainings/{run_id}").json())["status"] != "completed":
            assert time.monotonic() < deadline and state["status"] in ("queued", "in_progress"), state
            time.sleep(0.1)
    finally:
        runner.stopping.set()
        serving.join()
    # Every step was trained once: the resumed run went on from the step it stopped at.
    logged = (storage.root / "trainings" / run_id / "work" / LOG_FILE).read_text().split()
    assert [int(line.split(",")[1]) for line in logged] == list(range(1, 41))
    assert api.post(f"/api/trainings/{run_id}/resume").status_code == 409


def test_live_events_end_with_the_finished_run(studio, store, clips_dir):
    api, storage = studio
    api.put("/api/datasets/shots", content=zipped(clips_dir))
    run_id = api.post("/api/trainings", json={"name": "watched", "dataset": "shots", "steps": 3, "batch": 1,
                                              "sample_every": 0}).json()["id"]
    work_until_idle(store, storage)
    with api.stream("GET", f"/api/trainings/{run_id}/events") as response:
        lines = [line for line in response.iter_lines() if line.startswith(("event:", "data:"))]
    assert lines[0] == "event: done"
    final = json.loads(lines[1].partition(":")[2])
    assert final["status"] == "completed" and len(final["losses"]) == 3
    assert api.get("/api/trainings/train_unknown/events").status_code == 404


def test_training_requests_are_checked(studio, clips_dir, tmp_path):
    api, storage = studio
    api.put("/api/datasets/shots", content=zipped(clips_dir))
    for body, param in (({"dataset": "shots"}, "name"), ({"name": "x"}, "dataset"),
                        ({"name": "x", "dataset": "missing"}, "dataset"),
                        ({"name": "x", "dataset": "shots", "steps": 0}, "steps"),
                        ({"name": "x", "dataset": "shots", "rank": 8}, "rank"),
                        ({"name": "x", "dataset": "shots", "model": "cogvideox1.5-5b"}, "model"),
                        ({"name": "x", "dataset": "shots", "model": "ltx-video"}, "model"),
                        ({"name": "x", "dataset": "shots", "colour": "red"}, "colour"),
                        ({"name": "../x", "dataset": "shots"}, "name"),
                        ({"name": "x" * 57, "dataset": "shots"}, "name"),
                        ({"name": "x", "data_path": "relative/folder"}, "data_path")):
        answer = api.post("/api/trainings", json=body)
        assert answer.status_code == 400 and answer.json()["error"]["param"] == param, (body, answer.json())
    assert api.get("/api/trainings").json()["data"] == []
    # A local user (an admin) may point at a folder on the server instead of uploading.
    pointed = api.post("/api/trainings", json={"name": "x", "data_path": str(clips_dir), "steps": 1}).json()
    assert pointed["dataset"] == str(clips_dir)


def test_a_lora_run_adds_its_lora_to_the_library(studio, store, clips_dir, tiny_folders, tmp_path, monkeypatch):
    api, storage = studio
    home = tmp_path / "home"
    home.mkdir()
    (home / "config.toml").write_text(f'[models."{WAN}"]\npath = "{tiny_folders["wan"]}"\n')
    monkeypatch.setenv("UNGATED_HOME", str(home))
    api.put("/api/datasets/shots", content=zipped(clips_dir))
    body = {"model": WAN, "name": "ink", "dataset": "shots", "steps": 3, "rank": 4, "learning_rate": 0.01,
            "resolution": 64, "max_frames": 9, "sample_every": 0, "sample_steps": 2}
    run = api.post("/api/trainings", json=body).json()
    assert run["options"]["alpha"] == 4.0
    work_until_idle(store, storage, ("builtin", WAN))
    done = api.get(f"/api/trainings/{run['id']}").json()
    assert done["status"] == "completed", done
    assert {o["name"] for o in done["outputs"]} == {"ink.safetensors", "ink.json", "ink.sample.mp4", "ink.loss.png"}
    [lora] = api.get("/api/loras").json()["data"]
    assert (lora["name"], lora["model"], lora["training"]) == ("ink", WAN, run["id"])
    # The name is now taken for the next run.
    assert api.post("/api/trainings", json=body).status_code == 409
