"""The community GPU pool at scale (issue 27): a real `ungated serve --workers 0` (SQLite) with 200
simulated remote workers connected and idle, then 400 clients following jobs, measured from
outside. The same load runs against a baseline server (by default commit ce7a6d2, checked out
with `git archive` into a temporary folder) and against this tree, one after the other in one
run, and the table gives their ratios.

1. Idle: 200 workers long-poll POST /api/worker/claim (25 s, as `ungated worker` does) for a model
   nobody queues, their starts spread over 5 s; the server process's CPU is read from
   /proc/PID/stat over 25 s (every worker calls again once in that window).
2. Submit-to-start: 4 more workers wait for `builtin`; 20 videos are queued one at a time, each
   timed from the POST being sent to a worker's claim returning it (and, as the server saw it,
   started_at - created_at). The worker then gives the job up.
3. Clients: 52 queued videos, 2 busy workers holding one each and reporting a step every 0.5 s
   (so queue ETAs move), 200 SSE followers (/api/videos/{id}/events) and 200 pollers, each
   polling every 0.5 s: 100 on GET /v1/videos/{id}, 100 on GET /api/videos/{id}. The pollers are
   `wrk` (compiled; Debian's package), which gives their p50 and p99; the workers and SSE clients
   are raw asyncio streams in this process (uvloop), not an HTTP library.

Everything runs on 127.0.0.1 and stops by itself.

    python benchmarks/bench_pool.py [--baseline-ref ce7a6d2] [--seconds 20] [--workers 200] [--clients 200]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PROMPT = "a small red circle moving right on a blue background"
IDLE_MODEL = "bench/nobody-queues-this"
CLAIM_WAIT = 25.0
WRK_SCRIPT = """
local ids, paths, n = {IDS}, {{}}, 0
for i, id in ipairs(ids) do paths[i] = "{PREFIX}" .. id end
request = function()
  n = n + 1
  return wrk.format("GET", paths[(n % #paths) + 1])
end
delay = function() return 500 end
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format('{{"p50": %d, "p99": %d, "max": %d, "requests": %d, "errors": %d}}\\n',
    latency:percentile(50), latency:percentile(99), latency.max, summary.requests,
    e.connect + e.read + e.write + e.status + e.timeout))
end
"""


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))] if ordered else float("nan")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


# 1. A minimal HTTP/1.1 client on asyncio streams: one keep-alive connection per simulated client.

class Http:
    def __init__(self, port: int, token: str | None = None):
        self.port, self.auth = port, f"Authorization: Bearer {token}\r\n" if token else ""
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def __aenter__(self) -> "Http":
        self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)
        return self

    async def __aexit__(self, *_) -> None:
        self.writer.close()

    async def call(self, method: str, path: str, body: dict | None = None) -> tuple[int, dict | None]:
        data = b"" if body is None else json.dumps(body).encode()
        kind = f"Content-Type: application/json\r\nContent-Length: {len(data)}\r\n" if body is not None else ""
        self.writer.write(f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n{self.auth}{kind}\r\n".encode() + data)
        status, headers = await self._head()
        if headers.get(b"transfer-encoding", b"").lower() == b"chunked":
            payload = b""
            while size := int((await self.reader.readline()).strip(), 16):
                payload += await self.reader.readexactly(size + 2)
            await self.reader.readline()
        else:
            payload = await self.reader.readexactly(int(headers.get(b"content-length", 0)))
        return status, json.loads(payload) if payload else None

    async def _head(self) -> tuple[int, dict[bytes, bytes]]:
        line = await self.reader.readline()
        if not line:
            raise ConnectionError("the server closed the connection")
        headers = {}
        while (header := await self.reader.readline()) not in (b"\r\n", b""):
            name, _, value = header.partition(b":")
            headers[name.strip().lower()] = value.strip()
        return int(line.split()[1]), headers

    async def events(self, path: str, seen: list[int]) -> None:
        """Follow an SSE stream until its `done` event (or until cancelled), counting its events in seen[0]."""
        self.writer.write(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n\r\n".encode())
        status, _ = await self._head()
        if status != 200:
            raise ConnectionError(f"SSE answered {status}")
        while line := await self.reader.readline():
            seen[0] += line.startswith(b"event:")
            if line.startswith(b"event: done"):
                break


# 2. Simulated workers and followers.

class Pool:
    def __init__(self, port: int, token: str):
        self.port, self.token = port, token
        self.claims_answered = 0
        self.claimed: dict[str, float] = {}  # video id -> when a worker's claim returned it
        self.new_claim = asyncio.Condition()
        self.events, self.failed_streams, self.errors = [0], 0, []

    async def idle_worker(self, index: int, start_in: float) -> None:
        await asyncio.sleep(start_in)
        async with Http(self.port, self.token) as http:
            while True:
                status, _ = await http.call("POST", "/api/worker/claim", {
                    "models": [IDLE_MODEL], "instance": f"1{index:06x}", "wait": CLAIM_WAIT})
                if status != 204:
                    self.errors.append(f"idle claim answered {status}")
                    return
                self.claims_answered += 1

    async def probe_worker(self, index: int) -> None:
        """Waits for `builtin` videos; gives each up (not retried) as soon as it has it."""
        async with Http(self.port, self.token) as http:
            while True:
                status, body = await http.call("POST", "/api/worker/claim", {
                    "models": ["builtin"], "instance": f"2{index:06x}", "wait": CLAIM_WAIT})
                if status == 200:
                    job = body["job"]
                    async with self.new_claim:
                        self.claimed[job["id"]] = time.perf_counter()
                        self.new_claim.notify_all()
                    await http.call("POST", f"/api/worker/jobs/{job['id']}/fail", {
                        "lease_token": job["lease_token"], "code": "benchmark", "message": "a benchmark probe",
                        "retry": False})

    async def busy_worker(self, index: int) -> None:
        """Holds one `builtin` video and reports a step every 0.5 s."""
        async with Http(self.port, self.token) as http:
            while (answer := await http.call("POST", "/api/worker/claim", {
                    "models": ["builtin"], "instance": f"3{index:06x}", "wait": CLAIM_WAIT}))[0] != 200:
                pass
            job = answer[1]["job"]
            for step in range(1, 10_000):
                await http.call("POST", f"/api/worker/jobs/{job['id']}/heartbeat", {
                    "lease_token": job["lease_token"], "step": step % 200, "total": 200})
                await asyncio.sleep(0.5)

    async def follower(self, video_id: str) -> None:
        try:
            async with Http(self.port) as http:
                await http.events(f"/api/videos/{video_id}/events", self.events)
        except (OSError, ValueError, asyncio.IncompleteReadError):
            self.failed_streams += 1


def stop(tasks: list[asyncio.Task]) -> None:
    for task in tasks:
        task.cancel()


async def submit_to_start(pool: Pool, api: Http, count: int) -> tuple[list[float], list[float]]:
    """(submit-to-claim as the client sees it, started_at - created_at as the server recorded), seconds."""
    seen, recorded, ids = [], [], []
    for _ in range(count):
        sent = time.perf_counter()
        status, body = await api.call("POST", "/api/videos", {"prompt": PROMPT, "steps": 4})
        video_id = body["data"][0]["id"]
        async with pool.new_claim:
            await asyncio.wait_for(pool.new_claim.wait_for(lambda: video_id in pool.claimed), 10)
        seen.append(pool.claimed[video_id] - sent)
        ids.append(video_id)
        await asyncio.sleep(0.4)  # the worker gave it up and waits again
    for video_id in ids:
        _, video = await api.call("GET", f"/api/videos/{video_id}")
        recorded.append(video["started_at"] - video["created_at"])
    return seen, recorded


async def wrk(port: int, prefix: str, ids: list[str], connections: int, seconds: float, folder: Path) -> dict:
    script = folder / f"wrk{prefix.replace('/', '_')}.lua"
    script.write_text(WRK_SCRIPT.format(IDS="{" + ", ".join(f'"{i}"' for i in ids) + "}", PREFIX=prefix))
    process = await asyncio.create_subprocess_exec(
        "wrk", "-t1", f"-c{connections}", f"-d{seconds:g}s", "--timeout", "10s", "-s", str(script),
        f"http://127.0.0.1:{port}/", stdout=asyncio.subprocess.PIPE)
    out, _ = await process.communicate()
    return json.loads(out.decode().strip().splitlines()[-1])


async def measure(server: "Server", args) -> dict:
    result: dict = {}
    pool = Pool(server.port, server.token)
    # 1. Idle workers: every one connected, then a window as long as their long-poll.
    idle = [asyncio.create_task(pool.idle_worker(i, 5.0 * i / args.workers)) for i in range(args.workers)]
    await asyncio.sleep(6)
    before, answered, started = cpu_seconds(server.pid), pool.claims_answered, time.monotonic()
    await asyncio.sleep(CLAIM_WAIT)
    window = time.monotonic() - started
    result["idle_cpu"] = (cpu_seconds(server.pid) - before) / window
    result["idle_claims"] = pool.claims_answered - answered
    # 2. Submit-to-start, with the idle workers still waiting.
    probes = [asyncio.create_task(pool.probe_worker(i)) for i in range(4)]
    async with Http(server.port) as api:
        await asyncio.sleep(1)
        await submit_to_start(pool, api, 2)  # the first requests load the model's capabilities
        result["start_seen"], result["start_recorded"] = await submit_to_start(pool, api, 20)
        stop(probes)
        # 3. Clients following jobs.
        ids = []
        for _ in range(13):
            status, body = await api.call("POST", "/api/videos", {"prompt": PROMPT, "steps": 200, "variants": 4})
            ids += [video["id"] for video in body["data"]]
    busy = [asyncio.create_task(pool.busy_worker(i)) for i in range(2)]
    followers = [asyncio.create_task(pool.follower(ids[i % len(ids)])) for i in range(args.clients)]
    await asyncio.sleep(2)
    before, started = cpu_seconds(server.pid), time.monotonic()
    with tempfile.TemporaryDirectory() as folder:
        half = args.clients // 2
        result["v1"], result["api"] = await asyncio.gather(
            wrk(server.port, "/v1/videos/", ids, half, args.seconds, Path(folder)),
            wrk(server.port, "/api/videos/", ids, args.clients - half, args.seconds, Path(folder)))
    result["load_cpu"] = (cpu_seconds(server.pid) - before) / (time.monotonic() - started)
    result["open_streams"] = sum(not task.done() for task in followers)
    stop(busy + followers + idle)
    await asyncio.gather(*busy, *followers, *idle, return_exceptions=True)
    result["events"], result["failed_streams"], result["errors"] = pool.events[0], pool.failed_streams, pool.errors
    return result


# 3. The servers.

class Server:
    def __init__(self, code: Path, home: Path):
        self.code, self.home, self.port = code, home, free_port()
        self.db = f"sqlite:///{home / 'store.db'}"
        self.env = {**os.environ, "UNGATED_HOME": str(home), "PYTHONPATH": str(code)}
        self.process: subprocess.Popen | None = None
        self.token = ""

    @property
    def pid(self) -> int:
        return self.process.pid

    def __enter__(self) -> "Server":
        command = [sys.executable, "-m", "ungated", "serve", "--port", str(self.port), "--db", self.db, "--workers", "0"]
        log = open(self.home / "serve.log", "ab")
        self.process = subprocess.Popen(command, env=self.env, cwd=self.code, stdout=log, stderr=subprocess.STDOUT,
                                        start_new_session=True)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"serve exited: {(self.home / 'serve.log').read_text()[-2000:]}")
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.port), timeout=1):
                break
            time.sleep(0.2)
        else:
            raise RuntimeError("serve did not answer within 60 s")
        added = subprocess.run([sys.executable, "-m", "ungated", "workers", "add", "bench", "--db", self.db],
                               env=self.env, cwd=self.code, capture_output=True, text=True, check=True)
        self.token = added.stdout.split()[0]
        return self

    def __exit__(self, *_) -> None:
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()


def baseline_tree(ref: str, scratch: Path) -> Path:
    folder = scratch / "baseline-code"
    folder.mkdir()
    archive = subprocess.run(["git", "-C", str(REPO), "archive", ref], capture_output=True, check=True).stdout
    subprocess.run(["tar", "-x", "-C", str(folder)], input=archive, check=True)
    return folder


# 4. The table.

def ms(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms" if seconds >= 0.01 else f"{seconds * 1000:.1f} ms"


def rows(result: dict) -> dict[str, tuple[str, float]]:
    """{measure: (shown, value)}, value for the ratio."""
    r = result
    return {
        "server CPU, 200 idle workers (share of one core)": (f"{r['idle_cpu'] * 100:.1f}%", r["idle_cpu"]),
        "submit-to-start, client sees (median)": (ms(statistics.median(r["start_seen"])),
                                                  statistics.median(r["start_seen"])),
        "submit-to-start, client sees (p95)": (ms(percentile(r["start_seen"], 0.95)), percentile(r["start_seen"], 0.95)),
        "submit-to-start, started_at - created_at (median)": (ms(statistics.median(r["start_recorded"])),
                                                              statistics.median(r["start_recorded"])),
        "GET /v1/videos/{id}, p50": (ms(r["v1"]["p50"] / 1e6), r["v1"]["p50"]),
        "GET /v1/videos/{id}, p99": (ms(r["v1"]["p99"] / 1e6), r["v1"]["p99"]),
        "GET /api/videos/{id}, p50": (ms(r["api"]["p50"] / 1e6), r["api"]["p50"]),
        "GET /api/videos/{id}, p99": (ms(r["api"]["p99"] / 1e6), r["api"]["p99"]),
        "polls answered (both)": (f"{r['v1']['requests'] + r['api']['requests']}",
                                  r["v1"]["requests"] + r["api"]["requests"]),
        "server CPU under the client load": (f"{r['load_cpu'] * 100:.0f}%", r["load_cpu"]),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--baseline-ref", default="ce7a6d2", help="git revision to compare with ('' for none)")
    parser.add_argument("--seconds", type=float, default=20.0, help="how long the pollers poll")
    parser.add_argument("--workers", type=int, default=200, help="idle remote workers")
    parser.add_argument("--clients", type=int, default=200, help="SSE followers, and as many pollers")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("this benchmark needs wrk: apt-get install wrk")
    try:
        import uvloop
        uvloop.install()
    except ImportError:
        pass
    results = {}
    with tempfile.TemporaryDirectory() as scratch:
        runs = {"now": REPO}
        if args.baseline_ref:
            runs = {f"baseline {args.baseline_ref}": baseline_tree(args.baseline_ref, Path(scratch)), **runs}
        for label, code in runs.items():
            home = Path(scratch, label.replace(" ", "-"))
            home.mkdir()
            with Server(code, home) as server:
                print(f"{label}: serve on port {server.port} (pid {server.pid})", file=sys.stderr)
                try:
                    results[label] = asyncio.run(measure(server, args))
                except Exception:
                    print((home / "serve.log").read_text()[-3000:], file=sys.stderr)
                    raise
            r = results[label]
            print(f"{label}: {r['idle_claims']} idle claims answered in the window; {r['events']} SSE events, "
                  f"{r['failed_streams']} streams failed, {r['open_streams']} open at the end; wrk errors "
                  f"{r['v1']['errors'] + r['api']['errors']}; other errors {r['errors'][:3]}", file=sys.stderr)
    labels = list(results)
    table = {label: rows(result) for label, result in results.items()}
    print(f"\n{args.workers} idle remote workers; {args.clients} SSE followers + {args.clients} pollers "
          f"(every 0.5 s, {args.seconds:g} s)\n")
    print("| measure | " + " | ".join(labels) + (" | ratio |" if len(labels) == 2 else " |"))
    print("|---" * (len(labels) + 1 + (len(labels) == 2)) + "|")
    for name in table[labels[-1]]:
        cells = [table[label][name][0] for label in labels]
        if len(labels) == 2:
            old, new = table[labels[0]][name][1], table[labels[1]][name][1]
            cells.append(f"{old / new:.1f}x" if new else "-")
        print(f"| {name} | " + " | ".join(cells) + " |")
    print("\nratio: baseline / now (above 1: now is faster or lighter; for polls answered, below 1: more now)")


if __name__ == "__main__":
    main()
