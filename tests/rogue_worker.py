"""A misbehaving remote worker, for tests/test_netns_pool.py. It speaks the worker protocol through
ungated.jobs.remote's client, but hands back, one job each, an upload cut short, a clip of the
wrong size and a clip without the job's watermark (all made beforehand, with the built-in model,
from the request the test queues), then claims once more. Each outcome is one line of JSON:

    {"kind": "truncated", "job": "video_...", "refused": "the server received 5120 bytes; ..."}
    {"paused": "the server paused this worker: ..."}

Run on a host: `python -m tests.rogue_worker URL REQUEST_JSON`, its token in UNGATED_WORKER_TOKEN.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import tempfile
import time
from pathlib import Path

from ungated.generate import generate_clips
from ungated.jobs import trained
from ungated.jobs.remote import Claim, Paused, ResultRefused, ServerClient
from ungated.jobs.storage import Storage
from ungated.request import Request, plan

KINDS = ("truncated", "wrong_size", "no_watermark")
DEADLINE_SECONDS = 90.0
SOME_JOB = "video_" + "0" * 32  # the clips are made before any job is claimed: not the job's mark


def clips(request: dict, folder: Path) -> dict[str, bytes]:
    """Each kind's bytes to upload, and the whole clip's as "full" (what the truncated one claims)."""
    engine = trained.engine("builtin", Storage(folder / "files"))
    made = {}
    for name, fields in {"planned": request, "wrong_size": {**request, "size": "128x128"},
                         "no_watermark": {**request, "provenance": {"watermark": False}}}.items():
        path = folder / f"{name}.mp4"
        the_plan = plan(Request.build(**fields, variants=1), engine.capabilities, engine.id)
        generate_clips(engine, the_plan, [path], lambda *_: None, video_ids=[SOME_JOB], sign=False)
        made[name] = path.read_bytes()
    return {"full": made["planned"], "truncated": made["planned"][: len(made["planned"]) // 2],
            "wrong_size": made["wrong_size"], "no_watermark": made["no_watermark"]}


def claim(client: ServerClient, deadline: float) -> Claim:
    while time.monotonic() < deadline:
        answer = client.call("POST", "/api/worker/claim", give_up=lambda: time.monotonic() > deadline,
                             json={"models": ["builtin"], "instance": "0bad", "wait": 10})
        if answer.status_code == 200:
            return Claim.of(answer.json()["job"])
    raise SystemExit("rogue worker: no job to claim")


def deliver(client: ServerClient, job: Claim, sent: bytes, claimed: bytes, deadline: float) -> None:
    where, lease = f"/api/worker/jobs/{job.id}", {"lease_token": job.lease_token}
    client.call("PUT", f"{where}/result", params={**lease, "offset": 0}, content=sent,
                headers={"Content-Type": "application/octet-stream"}, give_up=lambda: time.monotonic() > deadline)
    client.call("POST", f"{where}/complete", give_up=lambda: time.monotonic() > deadline,
                json={**lease, "sha256": hashlib.sha256(claimed).hexdigest(), "size": len(claimed)})


def report(line: dict) -> None:
    print(json.dumps(line), flush=True)


def main(server: str, request: dict) -> None:
    made = clips(request, Path(tempfile.mkdtemp(prefix="rogue-")))
    client = ServerClient(server, os.environ["UNGATED_WORKER_TOKEN"])
    deadline = time.monotonic() + DEADLINE_SECONDS
    # Back to back: a refused job waits a little before it is handed out again, so each kind
    # usually lands on a job of its own (the test reads which job each went to).
    for kind in KINDS:
        job = claim(client, deadline)
        try:
            deliver(client, job, made[kind], made["full"] if kind == "truncated" else made[kind], deadline)
            report({"kind": kind, "job": job.id, "accepted": True})
        except ResultRefused as refused:
            report({"kind": kind, "job": job.id, "refused": str(refused)})
    try:
        job = claim(client, deadline)
        report({"paused": None, "job": job.id})
    except Paused as paused:
        report({"paused": str(paused)})


if __name__ == "__main__":
    main(sys.argv[1], json.loads(sys.argv[2]))
