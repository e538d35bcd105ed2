"""The community GPU pool's server side (api/workers.py): a worker token claims a video over HTTP,
fetches its inputs, makes the clip the way a remote worker does, uploads it in resumable chunks and
completes; the server checks the clip and signs it itself. Refused results go back to the queue and
pause a token after three in a row; a revoked token is refused and its job goes back uncounted.
In-process, on SQLite and PostgreSQL; the CLI through typer's runner."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import update
from typer.testing import CliRunner

from ungated.api.app import create_app
from ungated.api.service import ServiceConfig
from ungated.generate import generate_clips
from ungated.jobs import queue, trained, worker_tokens
from ungated.jobs.schema import Video
from ungated.jobs.storage import Storage
from ungated.provenance.verify import verify
from ungated.request import Request, plan

PROMPT = "a small red circle moving right on a blue background"
JOB = {"prompt": PROMPT, "size": "256x256", "seconds": 2, "steps": 4, "artist": "Ada"}


@pytest.fixture(scope="module")
def engine(tmp_path_factory):
    """The shipped built-in model, as both the server (for plans) and the worker (to make clips) have it."""
    return trained.engine("builtin", Storage(tmp_path_factory.mktemp("worker-files")))


@pytest.fixture
def pool(tmp_path, store):
    storage = Storage(tmp_path / "files")
    app = create_app(store, storage, ServiceConfig(own_workers=False))
    _, secret = worker_tokens.add(store, "gpu-ada", ["builtin"])
    with TestClient(app) as client:
        yield client, {"authorization": f"Bearer {secret}"}, store, storage


def make_clip(engine, job: dict, folder: Path, *, size: str | None = None, watermark: bool = True) -> Path:
    """A clip made as a remote worker makes it: the job's request and seed, the job's id watermarked."""
    fields = {**job["request"], "seed": job["seed"], "variants": 1}
    if size:
        fields["size"] = size
    if not watermark:
        fields["provenance"] = {**fields.get("provenance", {}), "watermark": False}
    the_plan = plan(Request.build(**fields), engine.capabilities, engine.id)
    path = folder / f"{job['id']}-{size or 'planned'}-{watermark}.mp4"
    generate_clips(engine, the_plan, [path], lambda *_: None, artist=job["artist"], video_ids=[job["id"]])
    return path


def claim(api, bearer, wait: float = 0) -> dict | None:
    answer = api.post("/api/worker/claim", json={"models": ["builtin"], "instance": "a1b2c3", "wait": wait},
                      headers=bearer)
    assert answer.status_code in (200, 204), answer.text
    return answer.json()["job"] if answer.status_code == 200 else None


def upload(api, bearer, job: dict, data: bytes, size: int | None = None, sha256: str | None = None):
    base, lease = f"/api/worker/jobs/{job['id']}", {"lease_token": job["lease_token"]}
    assert api.put(f"{base}/result", params={**lease, "offset": 0}, content=data[:1000], headers=bearer).json() == \
        {"received": 1000}
    received = api.get(f"{base}/result", params=lease, headers=bearer).json()["received"]
    assert api.put(f"{base}/result", params={**lease, "offset": received}, content=data[received:],
                   headers=bearer).json() == {"received": len(data)}
    body = {**lease, "sha256": sha256 or hashlib.sha256(data).hexdigest(), "size": size or len(data),
            "seconds_per_step": 0.05, "run_seconds": 0.01}
    return api.post(f"{base}/complete", json=body, headers=bearer)


def video(store, video_id: str) -> Video:
    with store.read() as session:
        return session.get(Video, video_id)


def test_a_remote_worker_makes_a_video_the_server_checks_and_signs(pool, engine, tmp_path):
    api, bearer, store, storage = pool
    made = api.post("/api/videos", json=JOB).json()["data"][0]
    job = claim(api, bearer)
    assert (job["id"], job["request"]["prompt"], job["seed"], job["artist"], job["attempts"]) == \
        (made["id"], PROMPT, made["seed"], "Ada", 1)
    token = worker_tokens.named(store, "gpu-ada")
    assert video(store, job["id"]).worker == f"remote:{token.id}:a1b2c3"
    assert "builtin" in api.app.state.studio.served_models()  # the remote worker counts as serving it

    base = f"/api/worker/jobs/{job['id']}"
    beat = api.post(f"{base}/heartbeat", json={"lease_token": job["lease_token"], "step": 2, "total": 4},
                    headers=bearer)
    assert beat.json() == {"cancel": False} and video(store, job["id"]).progress == 50
    lost = api.post(f"{base}/heartbeat", json={"lease_token": "0" * 16}, headers=bearer)
    assert (lost.status_code, lost.json()["error"]["code"]) == (409, "lease_lost")

    data = make_clip(engine, job, tmp_path).read_bytes()
    done = upload(api, bearer, job, data)
    assert done.json() == {"status": "completed"}, done.text
    assert api.post(f"{base}/complete", json={
        "lease_token": job["lease_token"], "sha256": hashlib.sha256(data).hexdigest(), "size": len(data)},
        headers=bearer).json() == {"status": "completed"}  # a repeat whose answer was lost

    finished = video(store, job["id"])
    assert finished.status == queue.COMPLETED and finished.result == f"videos/{job['id']}/{job['lease_token']}.mp4"
    assert finished.run_seconds == pytest.approx(0.01)  # the GPU time it reported: the member's quota counts it
    stored = storage.resolve(finished.result)
    assert stored.with_suffix(".thumb.jpg").is_file() and stored.with_suffix(".sprites.jpg").is_file()
    assert not list(stored.parent.glob(".upload-*"))
    content = api.get(f"/v1/videos/{job['id']}/content")
    assert content.status_code == 200 and content.content == stored.read_bytes()
    report = verify(stored)
    assert report.manifest.state in ("Trusted", "Valid") and report.manifest.artist == "Ada"
    assert report.manifest.video_id == job["id"] and report.watermark_id == job["id"][6:14]

    (record,) = api.get("/api/workers").json()["data"]
    assert (record["name"], record["state"], record["jobs_done"], record["seconds_per_step"]) == \
        ("gpu-ada", "live", 1, 0.05)
    assert "secret" not in api.get("/api/workers").text


def test_a_token_reads_only_its_own_jobs_inputs_and_a_revoked_one_is_refused(pool):
    api, bearer, store, storage = pool
    made = api.post("/api/videos", json=JOB).json()["data"][0]
    storage.input_path("in.png").write_bytes(b"an input image")
    with store.write() as session:  # (the built-in model takes no image: the file is only fetched here)
        session.execute(update(Video).where(Video.id == made["id"]).values(
            request={**video(store, made["id"]).request, "image": "inputs/in.png"}))
    job = claim(api, bearer)
    assert job["request"]["image"] == "in.png"
    assert job["inputs"] == {"image": f"/api/worker/jobs/{job['id']}/inputs/image"}
    url, lease = job["inputs"]["image"], {"lease_token": job["lease_token"]}
    assert api.get(url, params=lease, headers=bearer).content == b"an input image"
    assert api.get(url, params={"lease_token": "0" * 16}, headers=bearer).json()["error"]["code"] == "lease_lost"
    assert api.get(url, params=lease).json()["error"]["code"] == "invalid_worker_token"
    _, other = worker_tokens.add(store, "gpu-bob")
    assert api.get(url, params=lease, headers={"authorization": f"Bearer {other}"}).status_code == 409

    revoked = api.delete("/api/workers/gpu-ada")
    assert revoked.json()["requeued"] == [job["id"]]
    back = video(store, job["id"])
    assert (back.status, back.attempts, back.worker) == (queue.QUEUED, 0, None)
    for answer in (api.get(url, params=lease, headers=bearer),
                   api.post("/api/worker/claim", json={"models": ["builtin"], "instance": "a1b2c3"}, headers=bearer)):
        assert (answer.status_code, answer.json()["error"]["code"]) == (403, "worker_revoked")
    assert api.delete("/api/workers/gpu-ada").status_code == 404


def test_refused_results_go_back_to_the_queue_and_three_in_a_row_pause_the_token(pool, engine, tmp_path,
                                                                                  monkeypatch):
    monkeypatch.setattr(queue, "RETRY_DELAYS", (0.0, 0.0))
    api, bearer, store, storage = pool
    made = api.post("/api/videos", json=JOB).json()["data"][0]

    def refused(answer, reason: str, attempts: int) -> None:
        assert answer.status_code == 422 and answer.json()["error"]["code"] == "result_refused", answer.text
        assert reason in answer.json()["error"]["message"]
        back = video(store, made["id"])
        assert back.attempts == attempts and back.error_code == "result_refused"
        assert not list((storage.root / "videos" / made["id"]).glob(".upload-*"))

    job = claim(api, bearer)
    refused(upload(api, bearer, job, make_clip(engine, job, tmp_path, size="320x320").read_bytes()),
            "the clip is 320x320; this job makes 256x256", 1)
    assert video(store, made["id"]).status == queue.QUEUED

    job = claim(api, bearer)
    unmarked = make_clip(engine, job, tmp_path, watermark=False).read_bytes()
    truncated = upload(api, bearer, job, unmarked[:-100], sha256=hashlib.sha256(unmarked).hexdigest())
    refused(truncated, "the upload's SHA-256 does not match", 2)

    job = claim(api, bearer)
    refused(upload(api, bearer, job, unmarked), "the clip does not carry this job's watermark", 3)
    assert video(store, made["id"]).status == queue.FAILED  # out of attempts

    paused = api.post("/api/worker/claim", json={"models": ["builtin"], "instance": "a1b2c3"}, headers=bearer)
    assert (paused.status_code, paused.json()["error"]["code"]) == (403, "worker_paused")
    (record,) = api.get("/api/workers").json()["data"]
    assert record["state"] == "paused" and record["results_refused"] == 3 and "watermark" in record["pause_reason"]
    assert api.post("/api/workers/gpu-ada/unpause").json()["state"] == "live"
    assert claim(api, bearer) is None


def test_workers_are_added_listed_and_revoked_from_the_command_line(tmp_path):
    from ungated.cli import app
    from ungated.errors import UngatedError

    runner, db = CliRunner(), ["--db", f"sqlite:///{tmp_path / 'store.db'}"]
    added = runner.invoke(app, ["workers", "add", "gpu-ada", "--models", "builtin", *db])
    assert added.exit_code == 0 and added.stdout.strip().startswith(worker_tokens.PREFIX)
    taken = runner.invoke(app, ["workers", "add", "gpu-ada", *db])
    assert isinstance(taken.exception, UngatedError) and "already exists" in str(taken.exception)
    listed = runner.invoke(app, ["workers", "list", *db])
    assert "gpu-ada" in listed.stdout and "live" in listed.stdout and added.stdout.strip() not in listed.stdout
    assert runner.invoke(app, ["workers", "revoke", "gpu-ada", *db]).exit_code == 0
    assert "revoked" in runner.invoke(app, ["workers", "list", *db]).stdout
    again = runner.invoke(app, ["workers", "revoke", "gpu-ada", *db])
    assert isinstance(again.exception, UngatedError) and "no live worker" in str(again.exception)


def test_a_workers_reports_are_not_a_clients_writes_but_a_cancel_is(pool):
    """Polls answer from the shared read unless the caller wrote since it began: a heartbeat from a
    remote worker must not make every poll wait for a new read, a client's cancel must."""
    from ungated.api.service import WRITES

    api, worker, _store, _storage = pool
    video = api.post("/api/videos", json={"prompt": "a red circle", "steps": 4}).json()["data"][0]["id"]
    job = api.post("/api/worker/claim", json={"models": ["builtin"], "instance": "ab", "wait": 0},
                   headers=worker).json()["job"]
    before = WRITES.count
    beat = api.post(f"/api/worker/jobs/{video}/heartbeat", json={"lease_token": job["lease_token"], "step": 2,
                                                                  "total": 4}, headers=worker)
    assert beat.status_code == 200 and WRITES.count == before
    assert api.get(f"/v1/videos/{video}").json()["progress"] == 50  # seen within a read's tick all the same
    waiting = api.post("/api/videos", json={"prompt": "a blue square", "steps": 4}).json()["data"][0]["id"]
    assert api.get(f"/v1/videos/{waiting}").json()["status"] == "queued"
    counted = WRITES.count
    api.post(f"/api/videos/{waiting}/cancel")
    assert WRITES.count > counted
    assert api.get(f"/api/videos/{waiting}").json()["status"] == "cancelled"  # the caller's own write, at once
