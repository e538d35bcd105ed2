"""The remote worker (jobs/remote.py) against a fake server that speaks the worker protocol in
process (httpx.MockTransport), with the tiny built-in model: claim, inputs, heartbeats, a resumed
upload, cancel, a lost lease, a revoked token; and the clip it sends is marked but not signed."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from ungated.engines.builtin.engine import BuiltinEngine
from ungated.jobs import remote, worker
from ungated.provenance import c2pa_manifest, watermark

JOB_ID = "video_5eed1e55" + "0" * 24
LEASE = "lease-1"


def _error(status: int, code: str, message: str, **extra) -> httpx.Response:
    body = {"error": {"message": message, "type": "invalid_request_error", "param": None, "code": code}, **extra}
    return httpx.Response(status, json=body)


class FakeServer:
    """The server's half of the protocol, for one job, recording what the worker sent."""

    def __init__(self, request: dict | None = None, inputs: dict[str, bytes] | None = None):
        self.request = {"prompt": "a red ball bouncing", "steps": 4, **(request or {})}
        self.inputs = inputs or {}
        self.handed_out = False
        self.calls: list[tuple[str, str, dict]] = []
        self.heartbeats: list[dict] = []
        self.previews: list[bytes] = []
        self.received = bytearray()
        self.ended: tuple[str, dict] | None = None  # ("complete" | "fail" | "release", body)
        self.cancel = False
        self.drop_chunks = 0  # chunks to take half of, then drop the connection
        self.lease_lost_on = None  # a call answered 409 lease_lost
        self.refuse_claim: httpx.Response | None = None
        self.worker: remote.RemoteWorker | None = None
        self.before = lambda _request: None  # a test's own answer to a call, or None


    def job(self) -> dict:
        return {"id": JOB_ID, "kind": "video", "lease_token": LEASE, "model": "builtin", "request": self.request,
                "seed": 7, "artist": "Ada", "attempts": 1,
                "inputs": {name: f"/api/worker/jobs/{JOB_ID}/inputs/{name}" for name in self.inputs}, "loras": []}

    def __call__(self, request: httpx.Request) -> httpx.Response:
        answer = self.before(request)
        if answer is not None:
            return answer
        path, query = request.url.path, dict(request.url.params)
        body = json.loads(request.content) if request.headers.get("content-type") == "application/json" else {}
        self.calls.append((request.method, path, {**query, **body}))
        assert request.headers["authorization"] == "Bearer ugw_secret"
        if path == "/api/worker/claim":
            if self.refuse_claim is not None:
                return self.refuse_claim
            if self.handed_out:
                self.worker.stopping.set()  # one job per test
                return httpx.Response(204)
            self.handed_out = True
            assert body["models"] == ["builtin"] and len(body["instance"]) == 6
            return httpx.Response(200, json={"job": self.job(), "lease_seconds": 30, "heartbeat_seconds": 5})
        action = path.removeprefix(f"/api/worker/jobs/{JOB_ID}/")
        assert (query.get("lease_token") or body.get("lease_token")) == LEASE
        if self.lease_lost_on == action.split("/")[0]:
            return _error(409, "lease_lost", "this job is no longer yours")
        if action == "heartbeat":
            self.heartbeats.append(body)
            return httpx.Response(200, json={"cancel": self.cancel})
        if action == "preview":
            self.previews.append(request.content)
            return httpx.Response(200, json={"ok": True})
        if action.startswith("inputs/"):
            return httpx.Response(200, content=self.inputs[action.removeprefix("inputs/")])
        if action == "result" and request.method == "GET":
            return httpx.Response(200, json={"received": len(self.received)})
        if action == "result":
            offset = int(query["offset"])
            if offset != len(self.received):
                return _error(409, "offset_mismatch", "offset mismatch", received=len(self.received))
            if self.drop_chunks:
                self.drop_chunks -= 1
                self.received += request.content[: len(request.content) // 2]
                raise httpx.RemoteProtocolError("the connection dropped mid-chunk", request=request)
            self.received += request.content
            return httpx.Response(200, json={"received": len(self.received)})
        if action in ("complete", "fail", "release"):
            self.ended = (action, body)
            if action == "complete" and body["sha256"] != hashlib.sha256(self.received).hexdigest():
                return _error(422, "result_refused", "the upload's SHA-256 does not match")
            return httpx.Response(200, json={"status": {"complete": "completed", "release": "queued"}.get(action,
                                                                                                            "failed")})
        return _error(404, "not_found", f"no route {path}")


@pytest.fixture
def make_worker(tiny_model_dir, monkeypatch):
    monkeypatch.setattr(worker, "PREVIEW_SECONDS", 0.0)  # a preview at every step
    monkeypatch.setattr(worker, "PROGRESS_SECONDS", 0.01)

    def make(server: FakeServer) -> remote.RemoteWorker:
        runner = remote.RemoteWorker("https://pool.example", "ugw_secret", ["builtin"],
                                     transport=httpx.MockTransport(server), sleep=lambda _s: None)
        runner.engines["builtin"] = BuiltinEngine(model_dir=tiny_model_dir)
        server.worker = runner
        return runner

    return make


def test_a_job_is_made_uploaded_whole_and_completed(make_worker, monkeypatch, tmp_path):
    monkeypatch.setattr(remote, "CHUNK_BYTES", 4096)
    kept = tmp_path / "sent.mp4"
    server = FakeServer()
    server.drop_chunks = 2  # twice the connection drops half-way through a chunk
    original = remote.RemoteWorker._upload

    def upload_and_keep(self, job, clip):
        kept.write_bytes(clip.read_bytes())
        return original(self, job, clip)

    monkeypatch.setattr(remote.RemoteWorker, "_upload", upload_and_keep)
    make_worker(server).serve()

    action, body = server.ended
    assert action == "complete", server.ended
    assert bytes(server.received) == kept.read_bytes()  # whole, though resumed twice
    assert body["sha256"] == hashlib.sha256(kept.read_bytes()).hexdigest() and body["size"] == kept.stat().st_size
    assert body["seconds_per_step"] > 0
    gets = [call for call in server.calls if call[0] == "GET" and call[1].endswith("/result")]
    assert len(gets) == 2  # after each drop, the worker asked how much the server had
    last = [beat for beat in server.heartbeats if beat["step"]][-1]
    assert last["step"] == last["total"] > 4  # the 4 sampler steps, then the frames painted
    assert server.previews and all(p.startswith(b"\xff\xd8") for p in server.previews)  # JPEGs
    # Marked with the job's id, and left for the server to sign.
    assert watermark.detect(kept).mark == watermark.mark_id(JOB_ID)
    assert c2pa_manifest.read(kept).found is False
    assert not (Path(remote.settings.home()) / "work" / "remote" / JOB_ID).exists()


def test_an_input_is_fetched_with_the_lease_token(make_worker):
    from PIL import Image

    picture = Path(remote.settings.home()) / "start.png"
    Image.new("RGB", (64, 64), "red").save(picture)
    server = FakeServer({"image": "start.png"}, inputs={"image": picture.read_bytes()})
    make_worker(server).serve()
    fetched = [call for call in server.calls if call[1].endswith("/inputs/image")]
    assert fetched and fetched[0][2]["lease_token"] == LEASE
    # The built-in model takes no image: the request is wrong, and another try would not help.
    action, body = server.ended
    assert (action, body["code"], body["retry"]) == ("fail", "invalid_request", False), body
    assert "image" in body["message"]


def test_a_cancel_stops_the_job_and_reports_cancelled(make_worker):
    server = FakeServer({"steps": 200})
    server.cancel = True
    make_worker(server).serve()
    action, body = server.ended
    assert (action, body["code"], body["retry"]) == ("fail", "cancelled", False)
    assert not server.received


def test_a_lost_lease_drops_the_job(make_worker):
    server = FakeServer({"steps": 200})
    server.lease_lost_on = "heartbeat"
    make_worker(server).serve()
    assert server.ended is None and not server.received


def test_a_refused_result_is_dropped(make_worker, monkeypatch):
    server = FakeServer()
    monkeypatch.setattr(remote, "_sha256", lambda _path: "0" * 64)
    make_worker(server).serve()  # logged, not raised: the server requeues the job
    assert server.ended[0] == "complete"


def test_stopping_hands_the_job_back(make_worker):
    server = FakeServer({"steps": 200})
    runner = make_worker(server)

    def stop_at_a_heartbeat(request):
        if request.url.path.endswith("/heartbeat"):
            runner.stopping.set()

    server.before = stop_at_a_heartbeat
    runner.serve()
    assert server.ended[0] == "release"


def test_outages_are_waited_out(make_worker):
    server = FakeServer()
    down = [_error(503, "database_unavailable", "down", ), httpx.ConnectError("refused")]

    def flaky(request):
        if request.url.path == "/api/worker/claim" and down:
            answer = down.pop(0)
            if isinstance(answer, Exception):
                raise answer
            return answer
        return None

    server.before = flaky
    make_worker(server).serve()
    assert server.ended[0] == "complete"


def test_a_paused_token_waits_and_a_revoked_one_stops_the_worker(make_worker, monkeypatch):
    server = FakeServer()
    server.refuse_claim = _error(403, "worker_paused", "3 results refused in a row")
    runner = make_worker(server)
    waits = []

    def wait(seconds):
        waits.append(seconds)
        server.refuse_claim = _error(403, "worker_revoked", "this worker token was revoked")
        return False

    monkeypatch.setattr(runner.stopping, "wait", wait)
    with pytest.raises(remote.TokenRefused, match="revoked"):
        runner.serve()
    assert waits == [remote.PAUSED_SECONDS]


def test_the_cli_refuses_a_revoked_token_in_one_line(tmp_path):
    """A server that refuses the token: the worker says so on one line and exits non-zero."""
    import http.server
    import threading

    class Revoked(http.server.BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802
            body = json.dumps({"error": {"message": "this worker token was revoked", "type": "x",
                                         "param": None, "code": "worker_revoked"}}).encode()
            self.send_response(403)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    httpd = http.server.HTTPServer(("127.0.0.1", 0), Revoked)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        done = subprocess.run(
            [sys.executable, "-m", "ungated", "worker", "--server", f"http://127.0.0.1:{httpd.server_port}"],
            env={**__import__("os").environ, "UNGATED_WORKER_TOKEN": "ugw_x", "UNGATED_HOME": str(tmp_path)},
            capture_output=True, text=True, timeout=120)
    finally:
        httpd.shutdown()
    assert done.returncode != 0
    errors = [line for line in done.stdout.splitlines() + done.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "revoked" in errors[0], done.stdout + done.stderr


@pytest.mark.parametrize("arguments, says", [
    (["--server", "http://x"], "--token"),
    (["--server", "http://x", "--token", "t", "--db", "sqlite:///x.db"], "--db"),
])
def test_the_cli_refuses_mixed_or_missing_options(arguments, says, tmp_path):
    env = {k: v for k, v in __import__("os").environ.items() if k != "UNGATED_WORKER_TOKEN"}
    done = subprocess.run([sys.executable, "-m", "ungated", "worker", *arguments], env=env,
                          capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert done.returncode != 0 and says in done.stdout + done.stderr, done.stdout + done.stderr


def test_a_remote_worker_makes_a_video_for_a_real_server(tmp_path):
    """End to end: `ungated serve --workers 0`, a worker token, `ungated worker --server` in a
    process of its own with its own data directory, and the official openai client."""
    import os
    import signal

    import openai

    from ungated.jobs import worker_tokens
    from ungated.jobs.store import Store

    from .service import Server

    (tmp_path / "server").mkdir()
    (tmp_path / "volunteer").mkdir()
    db_url = f"sqlite:///{tmp_path / 'server' / 'store.db'}"
    server = Server(tmp_path / "server", db_url, workers=0).start()
    log = open(tmp_path / "volunteer" / "worker.log", "wb")
    volunteer = None
    try:
        store = Store(db_url)
        _, secret = worker_tokens.add(store, "volunteer")
        store.dispose()
        volunteer = subprocess.Popen(
            [sys.executable, "-m", "ungated", "worker", "--server", server.base],
            env={**os.environ, "UNGATED_HOME": str(tmp_path / "volunteer"), "UNGATED_WORKER_TOKEN": secret},
            stdout=log, stderr=subprocess.STDOUT)
        client = openai.OpenAI(base_url=f"{server.base}/v1", api_key="not-needed-locally", max_retries=0)
        video = client.videos.create_and_poll(prompt="a red ball bouncing", extra_body={"steps": 4},
                                              poll_interval_ms=200, timeout=240)
        worker_log = (tmp_path / "volunteer" / "worker.log").read_text(errors="replace")
        assert video.status == "completed", (video.error, server.log()[-3000:], worker_log[-3000:])
        clip = tmp_path / "clip.mp4"
        clip.write_bytes(client.videos.download_content(video.id).read())
        assert c2pa_manifest.read(clip).found  # signed by the server
        assert watermark.detect(clip).mark == watermark.mark_id(video.id)
        volunteer.send_signal(signal.SIGTERM)  # waiting for a job: it goes at once
        assert volunteer.wait(30) == 0
    finally:
        if volunteer is not None and volunteer.poll() is None:
            volunteer.send_signal(signal.SIGTERM)
            try:
                volunteer.wait(30)
            except subprocess.TimeoutExpired:
                volunteer.kill()
        server.stop()
        log.close()


@pytest.mark.parametrize("address", ["ftp://studio.example.org", "studio.example.org", "http://host:port"])
def test_the_cli_refuses_an_address_that_is_no_web_server_in_one_line(address, tmp_path):
    done = subprocess.run([sys.executable, "-m", "ungated", "worker", "--server", address, "--token", "ugw_x"],
                          env={**__import__("os").environ, "UNGATED_HOME": str(tmp_path)},
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and done.stderr.strip().startswith("error: --server:"), done.stderr
    assert len(done.stderr.strip().splitlines()) == 1 and "https://" in done.stderr
