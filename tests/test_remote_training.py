"""Training runs on the community GPU pool: a remote worker (jobs/remote.py) claims a run from a
real server in process (the app behind httpx, no shared folder: the worker has a home of its own),
fetches its dataset with its token, trains with the same trainer code as a local worker, sends its
loss curve and samples live and uploads its result, which the server checks (jobs/remote_runs.py)
and adds to its library. A corrupt result is refused with its reason; a token reads only the files
of the run it holds; an untrusted token is never given a run."""

from __future__ import annotations

import contextlib
import hashlib
import io
import threading
import time
import zipfile
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import update

from ungated.api.app import create_app
from ungated.api.service import ServiceConfig
from ungated.engines.builtin.clipnet import ClipConfig
from ungated.jobs import remote, worker, worker_tokens
from ungated.jobs.schema import Training, WorkerToken
from ungated.jobs.storage import Storage
from ungated.train import clips
from ungated.train.demo_data import write_demo_dataset

from .test_studio_training import WAN, zipped

SQLITE_ONLY = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)  # trains: once is enough


@pytest.fixture(scope="module")
def clips_dir(tmp_path_factory) -> Path:
    return write_demo_dataset(tmp_path_factory.mktemp("pool-clips"), width=96, height=64, seconds=1.5, fps=8,
                              scenes=["ball", "sunset", "snow"])


@pytest.fixture
def pool(store, tmp_path, clips_dir, monkeypatch):
    """A server with no workers of its own and the dataset `shots`; the volunteer's home is elsewhere."""
    monkeypatch.setattr(remote, "CLAIM_WAIT_SECONDS", 0)
    monkeypatch.setattr(worker, "PROGRESS_SECONDS", 0.01)
    sample_clip = clips.sample_clip  # samples are real clips, drawn in 2 steps instead of 24
    monkeypatch.setattr(clips, "sample_clip", lambda *args, **options: sample_clip(*args, **{**options, "steps": 2}))
    home = tmp_path / "volunteer"
    home.mkdir()
    monkeypatch.setenv("UNGATED_HOME", str(home))
    storage = Storage(tmp_path / "server-files")
    app = create_app(store, storage, ServiceConfig(models=["builtin", WAN], own_workers=False))
    with TestClient(app) as api:
        assert api.put("/api/datasets/shots", content=zipped(clips_dir)).status_code == 200
        yield api, store, storage, home


def token(store, name: str, untrusted: bool = False) -> tuple[WorkerToken, str]:
    return worker_tokens.add(store, name, untrusted=untrusted)


class InProcess(httpx.BaseTransport):
    """A worker's calls, handed to the app in process as they would reach it over HTTPS."""

    def __init__(self, api: TestClient):
        self.api = api

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        answer = self.api.request(request.method, str(request.url), content=request.read(),
                                  headers={k: v for k, v in request.headers.items() if k != "content-length"})
        headers = {k: v for k, v in answer.headers.items() if k not in ("content-length", "content-encoding")}
        return httpx.Response(answer.status_code, headers=headers, content=answer.content)


def volunteer(api: TestClient, secret: str, models=("builtin",)) -> remote.RemoteWorker:
    return remote.RemoteWorker("http://testserver", secret, list(models), transport=InProcess(api),
                               sleep=lambda _s: None)


def queue_run(api, **fields) -> str:
    body = {"name": "pool-style", "dataset": "shots", "steps": 3, "batch": 1, "sample_every": 0, **fields}
    answer = api.post("/api/trainings", json=body)
    assert answer.status_code == 200, answer.json()
    return answer.json()["id"]


def claim(api, secret: str, models=("builtin",)) -> dict | None:
    answer = api.post("/api/worker/claim", json={"models": list(models), "instance": "a1b2c3", "wait": 0},
                      headers=bearer(secret))
    assert answer.status_code in (200, 204), answer.text
    return answer.json()["job"] if answer.status_code == 200 else None


def bearer(secret: str) -> dict:
    return {"authorization": f"Bearer {secret}"}


@contextlib.contextmanager
def training_in_background(api, runner: remote.RemoteWorker, job: remote.Claim):
    """runner runs job in a thread; the block runs once the server shows two points of the run's
    loss curve (sent live by the worker), and the thread is joined after it."""
    thread = threading.Thread(target=runner.run, args=(job,))
    thread.start()
    try:
        deadline = time.monotonic() + 60
        while len(api.get(f"/api/trainings/{job.id}").json()["losses"]) < 2:
            assert time.monotonic() < deadline and thread.is_alive()
            time.sleep(0.05)
        yield
    finally:
        thread.join(60)


def run_row(store, run_id: str) -> Training:
    with store.read() as session:
        return session.get(Training, run_id)


@SQLITE_ONLY
def test_a_remote_worker_trains_the_builtin_model_and_the_server_makes_videos_with_it(pool):
    api, store, storage, home = pool
    run_id = queue_run(api, sample_every=2, sample_prompt="a red ball")
    _, secret = token(store, "gpu-ada")
    runner = volunteer(api, secret)
    job = runner.claim()
    assert (job.id, job.kind, job.dataset["name"]) == (run_id, "training", "shots")
    runner.run(job)

    done = api.get(f"/api/trainings/{run_id}").json()
    assert done["status"] == "completed" and done["error"] is None, done
    assert [point[0] for point in done["losses"]] == [1, 2, 3]  # the live view's loss log
    assert [s["step"] for s in done["samples"]] == [2]
    assert api.get(done["samples"][0]["url"]).content[4:8] == b"ftyp"
    assert {o["name"] for o in done["outputs"]} == {"model/config.json", "model/model.safetensors",
                                                    "model/sample.mp4", "model/loss.png"}
    assert done["model_id"] == "builtin/pool-style"
    assert not (home / "work" / "remote" / run_id).exists()  # a finished run's files go
    record = worker_tokens.named(store, "gpu-ada")
    assert (record.jobs_done, record.results_refused) == (1, 0)

    # A video of the trained model goes to the pool too: a worker serving `builtin` fetches the
    # model's files from the server (its own copy of the run is gone) and makes it.
    video = api.post("/api/videos", json={"prompt": "a red ball", "model": "builtin/pool-style", "steps": 2}).json()
    job = runner.claim()
    assert (job.id, job.model, job.model_files) == (video["data"][0]["id"], "builtin/pool-style",
                                                    f"/api/worker/jobs/{job.id}/model")
    runner.run(job)
    made = api.get(f"/api/videos/{job.id}").json()
    assert (made["status"], made["model"]) == ("completed", "builtin/pool-style"), made
    fetched = home / "work" / "remote" / "library" / "models" / "pool-style"
    assert (fetched / "model.safetensors").read_bytes() == (storage.root / "models" / "pool-style" /
                                                            "model.safetensors").read_bytes()


@SQLITE_ONLY
def test_a_remote_worker_trains_a_lora_that_joins_the_library(pool, tiny_folders):
    api, store, _storage, home = pool
    (home / "config.toml").write_text(f'[models."{WAN}"]\npath = "{tiny_folders["wan"]}"\n')
    run_id = queue_run(api, model=WAN, name="ink", rank=4, learning_rate=0.01, resolution=64, max_frames=9,
                       sample_steps=2)
    _, secret = token(store, "gpu-wan")
    runner = volunteer(api, secret, models=(WAN,))
    runner.run(runner.claim())
    done = api.get(f"/api/trainings/{run_id}").json()
    assert done["status"] == "completed", done
    assert {o["name"] for o in done["outputs"]} == {"ink.safetensors", "ink.json", "ink.sample.mp4", "ink.loss.png"}
    [lora] = api.get("/api/loras").json()["data"]
    assert (lora["name"], lora["model"], lora["training"]) == ("ink", WAN, run_id)


@SQLITE_ONLY
def test_a_cancel_stops_a_remote_run_which_keeps_its_checkpoint(pool):
    api, store, _storage, home = pool
    run_id = queue_run(api, steps=500)
    _, secret = token(store, "gpu-ada")
    runner = volunteer(api, secret)
    job = runner.claim()
    with training_in_background(api, runner, job):
        assert api.get(f"/api/trainings/{run_id}").json()["stage"] == "training"
        api.post(f"/api/trainings/{run_id}/cancel")
    state = api.get(f"/api/trainings/{run_id}").json()
    assert state["status"] == "cancelled" and state["error"]["code"] == "cancelled", state
    assert 2 <= state["step"] < 500
    # Kept, so a resumed run claimed by this worker again goes on from its checkpoint.
    assert (home / "work" / "remote" / run_id / "trainings" / run_id / "work" / "checkpoint.pt").is_file()


@SQLITE_ONLY
def test_a_run_handed_back_resumes_from_the_checkpoint_on_the_same_worker(pool):
    api, store, storage, home = pool
    run_id = queue_run(api, steps=8)
    _, secret = token(store, "gpu-ada")
    runner = volunteer(api, secret)
    job = runner.claim()
    with training_in_background(api, runner, job):
        runner.stopping.set()  # what SIGTERM does: the run is handed back at its next step
    handed_back = run_row(store, run_id)
    assert (handed_back.status, handed_back.attempts) == ("queued", 0)
    stopped_at = len(api.get(f"/api/trainings/{run_id}").json()["losses"])
    assert 2 <= stopped_at < 8

    runner.stopping.clear()
    again = runner.claim()
    assert again.id == run_id and again.lease_token != job.lease_token
    runner.run(again)
    done = api.get(f"/api/trainings/{run_id}").json()
    assert done["status"] == "completed", done
    assert not list((home / "work" / "remote").glob("*"))  # the run's files went with its completion
    # Every step trained once: the second attempt went on from the step the first stopped at.
    assert [point[0] for point in done["losses"]] == list(range(1, 9))
    server_log = (storage.root / "trainings" / run_id / "work" / "loss.csv").read_text().split()
    assert [int(line.split(",")[1]) for line in server_log] == list(range(1, 9))


def test_a_token_reads_only_the_files_of_the_run_it_holds(pool):
    api, store, storage, _home = pool
    first, second = queue_run(api, name="one"), queue_run(api, name="two")
    _, ada = token(store, "gpu-ada")
    _, bob = token(store, "gpu-bob")
    mine, theirs = claim(api, ada), claim(api, bob)
    assert (mine["id"], theirs["id"]) == (first, second)

    listing = api.get(f"/api/worker/jobs/{first}/dataset", params={"lease_token": mine["lease_token"]},
                      headers=bearer(ada)).json()["files"]
    caption = next(entry for entry in listing if entry["path"].endswith(".txt"))
    fetched = api.get(caption["url"], params={"lease_token": mine["lease_token"]}, headers=bearer(ada))
    assert fetched.content == (storage.root / "datasets" / "local" / "shots" / caption["path"]).read_bytes()
    assert len(fetched.content) == caption["size"]

    # Another token, even with the run's lease token, and this token for the other run: 409 lease_lost.
    for secret, run_id, lease in ((bob, first, mine["lease_token"]), (ada, second, theirs["lease_token"]),
                                  (ada, second, mine["lease_token"])):
        answer = api.get(f"/api/worker/jobs/{run_id}/dataset/{caption['path']}", params={"lease_token": lease},
                         headers=bearer(secret))
        assert answer.status_code == 409 and answer.json()["error"]["code"] == "lease_lost", answer.json()
    # Paths out of the dataset, and a video's calls on a run.
    lease = {"lease_token": mine["lease_token"]}
    for path, status in (("..%2F..%2Fstore.db", 400), ("%2E%2E/x.txt", 400), ("a%5Cb.txt", 400),
                         ("missing.mp4", 404)):
        answer = api.get(f"/api/worker/jobs/{first}/dataset/{path}", params=lease, headers=bearer(ada))
        assert answer.status_code == status and answer.json()["error"]["param"] == "path", (path, answer.json())
    assert api.get(f"/api/worker/jobs/{first}/model", params=lease, headers=bearer(ada)).status_code == 404
    assert api.get(f"/api/worker/jobs/{first}/inputs/image", params=lease, headers=bearer(ada)).status_code == 404
    assert api.get(f"/api/worker/jobs/{first}/dataset", params=lease).status_code == 401


def test_a_corrupt_result_is_refused_with_its_reason_and_the_run_goes_back(pool):
    api, store, storage, _home = pool
    run_id = queue_run(api)
    _, secret = token(store, "gpu-ada")
    config = ClipConfig(("ball",), width=64, height=64).to_json().encode()  # the shape this run trains
    weights_of_nothing = _zip({"model/config.json": config, "model/model.safetensors": b"not weights"})
    for body, reason in ((b"not a zip at all", "not a zip"),
                         (_zip({"model/config.json": b"{}", "model/evil.sh": b"#!"}), "'model/evil.sh'"),
                         (weights_of_nothing, "does not load")):
        job = claim(api, secret)
        assert job["id"] == run_id
        answer = _deliver(api, secret, job, body)
        assert answer.status_code == 422 and answer.json()["error"]["code"] == "result_refused", answer.json()
        assert reason in answer.json()["error"]["message"], answer.json()
        run = run_row(store, run_id)
        assert run.status == "queued" and run.error_code == "result_refused" and reason in run.error_message
        with store.write() as session:  # the next attempt, now rather than after the retry delay
            session.execute(update(Training).where(Training.id == run_id).values(not_before=0, attempts=0))
    assert not (storage.root / "trainings" / run_id / "out").exists()
    assert api.get("/api/models").json()["data"] and "builtin/pool-style" not in {
        m["id"] for m in api.get("/api/models").json()["data"]}
    record = worker_tokens.named(store, "gpu-ada")
    assert record.results_refused == 3 and record.paused_at is not None  # three in a row: paused


def test_a_lora_result_holds_only_lora_weights_of_the_runs_rank(pool):
    api, store, _storage, _home = pool
    run_id = queue_run(api, model=WAN, name="ink", rank=4)
    _, secret = token(store, "gpu-wan")
    attention = "transformer.blocks.0.attn1.to_q"
    for weights, reason in (
            ({f"{attention}.lora_A.weight": (8, 16), f"{attention}.lora_B.weight": (16, 8)}, "rank (4)"),
            ({"text_encoder.layers.0.lora_A.weight": (4, 16)}, "not a LoRA weight"),
            ({f"{attention}.lora_A.weight": (4, 16)}, "without its other half")):
        job = claim(api, secret, models=(WAN,))
        assert job["id"] == run_id and job["kind"] == "training"
        answer = _deliver(api, secret, job, _zip({"ink.safetensors": _safetensors(weights)}))
        assert answer.status_code == 422 and reason in answer.json()["error"]["message"], answer.json()
        with store.write() as session:
            session.execute(update(Training).where(Training.id == run_id).values(not_before=0, attempts=0))
    assert api.get("/api/loras").json()["data"] == []


def test_untrusted_tokens_get_no_training_run(pool):
    api, store, _storage, _home = pool
    run_id = queue_run(api)
    _, secret = token(store, "stranger", untrusted=True)
    assert claim(api, secret) is None
    video = api.post("/api/videos", json={"prompt": "a red ball", "steps": 2}).json()["data"][0]["id"]
    assert claim(api, secret)["id"] == video  # a video queued later is theirs to make
    assert run_row(store, run_id).status == "queued"


def test_live_view_lines_are_checked(pool):
    api, store, storage, _home = pool
    run_id = queue_run(api)
    _, secret = token(store, "gpu-ada")
    job = claim(api, secret)
    where, lease = f"/api/worker/jobs/{run_id}", {"lease_token": job["lease_token"]}
    good = b"clips,1,0.5\nclips,2,0.25\n"
    assert api.put(f"{where}/log", params={**lease, "offset": 0}, content=good, headers=bearer(secret)).json() == \
        {"received": len(good)}
    mismatch = api.put(f"{where}/log", params={**lease, "offset": 3}, content=b"clips,3,0.1\n", headers=bearer(secret))
    assert mismatch.status_code == 409 and mismatch.json()["received"] == len(good)
    for bad in (b"clips,3,0.1", b"<script>,3,1\n"):
        answer = api.put(f"{where}/log", params={**lease, "offset": len(good)}, content=bad, headers=bearer(secret))
        assert answer.status_code == 400 and answer.json()["error"]["param"] == "body", answer.json()
    assert api.put(f"{where}/samples/2", params=lease, content=b"not a clip", headers=bearer(secret)).status_code == 400
    assert api.get(f"/api/trainings/{run_id}").json()["losses"] == [[1, 0.5], [2, 0.25]]
    beat = api.post(f"{where}/heartbeat", json={**lease, "step": 2, "total": 3, "stage": "training"},
                    headers=bearer(secret)).json()
    assert beat == {"cancel": False} and api.get(f"/api/trainings/{run_id}").json()["stage"] == "training"
    assert not list((storage.root / "trainings" / run_id / "work").glob("samples/*"))


def _zip(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def _deliver(api, secret: str, job: dict, data: bytes):
    where, lease = f"/api/worker/jobs/{job['id']}", {"lease_token": job["lease_token"]}
    assert api.put(f"{where}/result", params={**lease, "offset": 0}, content=data,
                   headers=bearer(secret)).json() == {"received": len(data)}
    return api.post(f"{where}/complete", json={**lease, "sha256": hashlib.sha256(data).hexdigest(), "size": len(data)},
                    headers=bearer(secret))


def _safetensors(shapes: dict[str, tuple[int, ...]]) -> bytes:
    import torch
    from safetensors.torch import save

    return save({key: torch.zeros(shape) for key, shape in shapes.items()})


def test_a_waiting_worker_is_woken_for_a_run_queued_while_it_waits(pool):
    api, store, _storage, _home = pool
    _, secret = token(store, "gpu-ada")
    answers = []
    waiting = threading.Thread(target=lambda: answers.append(api.post(
        "/api/worker/claim", json={"models": ["builtin"], "instance": "a1b2c3", "wait": 8}, headers=bearer(secret))))
    waiting.start()
    time.sleep(0.5)  # the claim is waiting on an empty queue
    run_id = queue_run(api)
    waiting.join(20)
    assert answers[0].status_code == 200, "the waiting claim ended without the run"
    assert answers[0].json()["job"]["id"] == run_id
