"""A remote worker's upload resumed on a new connection while the old one still delivers: the late
bytes of the connection it replaced (a link that came back after the worker gave up on it, the
worker's kernel still sending what it had queued) must not corrupt the result. Against a real
`ungated serve`, the old connection a raw socket."""

from __future__ import annotations

import hashlib
import socket
import time
from pathlib import Path

import httpx

from ungated.jobs import trained
from ungated.jobs.storage import Storage
from ungated.provenance import watermark
from ungated.provenance.verify import verify

from .service import Server
from .test_worker_api import make_clip


def test_late_bytes_of_a_replaced_connection_do_not_corrupt_the_upload(tmp_path: Path):
    home = tmp_path / "server"
    home.mkdir()
    server = Server(home, f"sqlite:///{home / 'store.db'}", workers=0).start()
    try:
        api = httpx.Client(base_url=server.base, timeout=30)
        secret = api.post("/api/workers", json={"name": "gpu"}).json()["secret"]
        bearer = {"Authorization": f"Bearer {secret}"}
        # A busy scene at 720p: a clip well over the server's file buffer whatever the encoder does.
        api.post("/api/videos", json={"prompt": "many stars and circles spinning", "seconds": 4, "size": "1280x720", "steps": 4})
        job = api.post("/api/worker/claim", json={"models": ["builtin"], "instance": "abc", "wait": 5},
                       headers=bearer).json()["job"]
        data = make_clip(trained.engine("builtin", Storage(tmp_path / "worker")), job, tmp_path).read_bytes()
        half = len(data) - 4096  # all but the last 4 KiB
        assert half > 2 * 8192, len(data)  # well over the server's file buffer: some of it is on disk
        where, lease = f"/api/worker/jobs/{job['id']}/result", {"lease_token": job["lease_token"]}

        # 1. The first connection sends most of the clip and stalls.
        stale = socket.create_connection(("127.0.0.1", server.port), timeout=30)
        stale.sendall(f"PUT {where}?lease_token={job['lease_token']}&offset=0 HTTP/1.1\r\nHost: x\r\n"
                      f"Authorization: Bearer {secret}\r\nContent-Type: application/octet-stream\r\n"
                      f"Content-Length: {len(data)}\r\n\r\n".encode() + data[:half])
        deadline = time.monotonic() + 30
        while (received := api.get(where, params=lease, headers=bearer).json()["received"]) == 0:
            assert time.monotonic() < deadline, "the server never wrote the first bytes"
            time.sleep(0.05)

        # 2. The worker resumes on a new connection from what the server says it has, and ends.
        resumed = api.put(where, params={**lease, "offset": received}, content=data[received:], headers=bearer)
        assert resumed.json() == {"received": len(data)}, resumed.text

        # 3. The old connection's queued bytes arrive after all.
        stale.sendall(data[half:])
        assert stale.recv(4096).startswith(b"HTTP/1.1 200"), "the old connection was not answered"
        stale.close()

        done = api.post(f"/api/worker/jobs/{job['id']}/complete", headers=bearer, json={
            **lease, "sha256": hashlib.sha256(data).hexdigest(), "size": len(data)})
        assert done.json() == {"status": "completed"}, done.text
        (clip,) = (home / "files" / "videos" / job["id"]).glob("*.mp4")
        checked = verify(clip)
        assert checked.verdict == "signed" and checked.watermark.mark == watermark.mark_id(job["id"])
    finally:
        server.stop()


def test_a_body_whose_sender_goes_silent_ends_as_a_disconnect(monkeypatch):
    """A link that dies mid-upload sends no FIN: the handler must not wait on it for ever (it would
    also hold up a graceful stop of the server). What arrived is kept, as on a disconnect."""
    import asyncio

    from starlette.requests import ClientDisconnect, Request
    from starlette.responses import JSONResponse

    from ungated.api import limits

    monkeypatch.setattr(limits, "IDLE_BODY_SECONDS", 0.2)
    kept: list[bytes] = []

    async def upload(scope, receive, send):
        try:
            async for chunk in Request(scope, receive).stream():
                kept.append(chunk)
        except ClientDisconnect:
            pass
        await JSONResponse({"received": sum(map(len, kept))})(scope, receive, send)

    async def call() -> list[dict]:
        arrived = [{"type": "http.request", "body": b"x" * 1000, "more_body": True}]

        async def receive():
            if arrived:
                return arrived.pop()
            await asyncio.sleep(3600)  # the sender went silent

        sent: list[dict] = []

        async def send(message):
            sent.append(message)

        scope = {"type": "http", "method": "PUT", "path": "/api/worker/jobs/x/result", "headers": [],
                 "query_string": b""}
        await asyncio.wait_for(limits.BodyLimit(upload)(scope, receive, send), 5)
        return sent

    sent = asyncio.run(call())
    assert sent[0]["status"] == 200 and sent[1]["body"] == b'{"received":1000}'
