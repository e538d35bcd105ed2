"""Issue 27's acceptance, as a new user would try it on one machine with two data directories (no
shared folder, no database credentials for the worker): `ungated serve --workers 0`, `ungated
workers add`, `ungated worker --server URL --token ...` in another home; the official openai client
makes videos; kill -9 of the worker mid-job and a new worker finishes it; a bad or revoked token
gets a clear 401/403 and the worker stops on one line."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import openai

from ungated.jobs.schema import Video
from ungated.jobs.store import Store

from .service import Server


def ungated(home: Path, *arguments: str, **options) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "ungated", *arguments], env={**os.environ, "UNGATED_HOME": str(home)},
                          capture_output=True, text=True, timeout=120, **options)


def start_worker(home: Path, server: Server, token: str) -> subprocess.Popen:
    home.mkdir(exist_ok=True)
    return subprocess.Popen([sys.executable, "-m", "ungated", "worker", "--server", server.base, "--token", token],
                            env={**os.environ, "UNGATED_HOME": str(home)}, stdout=open(home / "worker.log", "ab"),
                            stderr=subprocess.STDOUT)


def row(db_url: str, video_id: str) -> Video:
    store = Store(db_url)
    try:
        with store.read() as session:
            return session.get(Video, video_id)
    finally:
        store.dispose()


def wait_for(predicate, what: str, timeout: float = 120.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if value := predicate():
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def test_a_laptop_server_and_a_gpu_in_another_home(tmp_path):
    server_home, db_url = tmp_path / "server", f"sqlite:///{tmp_path / 'server' / 'store.db'}"
    server_home.mkdir()
    server = Server(server_home, db_url, workers=0).start()
    workers: list[subprocess.Popen] = []
    try:
        added = ungated(server_home, "workers", "add", "gpu-1", "--db", db_url)
        assert added.returncode == 0, added.stderr
        token = added.stdout.strip()
        assert token.startswith("ugw_") and "ungated worker --server" in added.stderr

        # A bad token: a clear 401 from the API, and the worker stops with one line.
        refused = httpx.post(f"{server.base}/api/worker/claim", json={"models": ["builtin"], "instance": "abc123"},
                             headers={"Authorization": "Bearer ugw_wrong"})
        assert refused.status_code == 401 and refused.json()["error"]["code"] == "invalid_worker_token"
        bad = ungated(tmp_path / "bad", "worker", "--server", server.base, "--token", "ugw_wrong")
        assert bad.returncode != 0 and [line for line in bad.stderr.splitlines() if line.startswith("error:")]

        workers.append(start_worker(tmp_path / "gpu-1", server, token))
        client = openai.OpenAI(base_url=f"{server.base}/v1", api_key="unused-locally", max_retries=0)
        first = client.videos.create_and_poll(prompt="a red circle bouncing", extra_body={"steps": 4},
                                              poll_interval_ms=200, timeout=240)
        assert first.status == "completed", first.error
        assert client.videos.download_content(first.id).read()[4:8] == b"ftyp"

        # kill -9 of the worker mid-job: a new worker (another token, another home) finishes it.
        slow = client.videos.create(prompt="a blue star spinning", extra_body={"steps": 200})
        wait_for(lambda: row(db_url, slow.id).status == "in_progress" and row(db_url, slow.id).progress >= 2,
                 "the job to start on the worker")
        workers[0].send_signal(signal.SIGKILL)
        workers[0].wait()
        second = ungated(server_home, "workers", "add", "gpu-2", "--db", db_url).stdout.strip()
        workers.append(start_worker(tmp_path / "gpu-2", server, second))
        done = wait_for(lambda: (video := row(db_url, slow.id)).status in ("completed", "failed") and video,
                        "the job to finish on the new worker", timeout=240)
        assert done.status == "completed" and done.attempts == 2, (done.error_code, done.error_message)
        assert len(list((server_home / "files" / "videos" / slow.id).glob("*.mp4"))) == 1

        # A revoked token: 403 at its next call, and the worker stops on one line.
        revoked = ungated(server_home, "workers", "revoke", "gpu-2", "--db", db_url)
        assert revoked.returncode == 0, revoked.stderr
        assert workers[1].wait(60) != 0
        said = (tmp_path / "gpu-2" / "worker.log").read_text()
        assert [line for line in said.splitlines() if line.startswith("error:") and "revoked" in line], said[-2000:]
        again = httpx.post(f"{server.base}/api/worker/claim", json={"models": ["builtin"], "instance": "abc123"},
                           headers={"Authorization": f"Bearer {second}"})
        assert again.status_code == 403 and again.json()["error"]["code"] == "worker_revoked"
    finally:
        for process in workers:
            if process.poll() is None:
                process.kill()
        server.stop()
