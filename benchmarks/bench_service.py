"""The service under load, measured from outside as clients see it, against a real `ungated serve`
(SQLite, one worker process, the built-in model).

1. Submit-to-start: on an idle worker, the time from a job being queued to a worker starting it
   (both timestamps written by the service; the worker polls the queue every 0.1 s).
2. Load: C Server-Sent-Events clients and C pollers (GET /v1/videos/{id} every 0.5 s, as the
   openai client's poll helper does) follow queued and running jobs while the worker makes them;
   we report the pollers' response times against those of 5 pollers alone. The worker makes
   clips throughout (both cores are shared by it, the API and the benchmark's own clients).

    python benchmarks/bench_service.py [--clients 200] [--seconds 20]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # for tests.service

from tests.service import Server  # noqa: E402

PROMPT = "a small red circle moving right on a blue background"


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def submit_to_start(api: httpx.Client, count: int) -> list[float]:
    delays = []
    for _ in range(count):
        video = api.post("/api/videos", json={"prompt": PROMPT, "steps": 4}).json()["data"][0]
        while (state := api.get(f"/api/videos/{video['id']}").json())["status"] != "completed":
            time.sleep(0.05)
        delays.append(state["started_at"] - state["created_at"])
        time.sleep(0.3)  # the worker is idle again, polling
    return delays


async def poll_times(base: str, ids: list[str], clients: int, seconds: float, errors: list | None = None) -> list[float]:
    times: list[float] = []
    limits = httpx.Limits(max_connections=clients + 10)
    async with httpx.AsyncClient(base_url=base, timeout=60, limits=limits) as client:
        async def poller(index: int) -> None:
            video = ids[index % len(ids)]
            end = time.monotonic() + seconds
            await asyncio.sleep(0.5 * index / clients)  # clients start at different moments, as people do
            while time.monotonic() < end:
                started = time.perf_counter()
                try:
                    response = await client.get(f"/v1/videos/{video}")
                    response.raise_for_status()
                except httpx.HTTPError as err:
                    if errors is None:
                        raise
                    errors.append(repr(err))
                else:
                    times.append(time.perf_counter() - started)
                await asyncio.sleep(0.5)

        await asyncio.gather(*(poller(i) for i in range(clients)))
    return times


async def watch(base: str, ids: list[str], clients: int, seconds: float, counts: list[int]) -> None:
    limits = httpx.Limits(max_connections=clients + 10)
    async with httpx.AsyncClient(base_url=base, timeout=None, limits=limits) as client:
        async def follower(index: int) -> None:
            try:
                async with client.stream("GET", f"/api/videos/{ids[index % len(ids)]}/events") as response:
                    async for line in response.aiter_lines():
                        counts[0] += line.startswith("event:")
            except httpx.HTTPError:
                counts[1] += 1

        tasks = [asyncio.create_task(follower(i)) for i in range(clients)]
        await asyncio.sleep(seconds)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


async def under_load(base: str, ids: list[str], clients: int, seconds: float) -> tuple[list[float], list[int]]:
    counts = [0, 0]  # events received, streams failed
    watching = asyncio.create_task(watch(base, ids, clients, seconds + 2, counts))
    await asyncio.sleep(2)  # every stream open before the pollers start
    errors: list[str] = []
    times = await poll_times(base, ids, clients, seconds, errors)
    await watching
    if errors:
        print(f"{len(errors)} poll requests failed, e.g. {errors[0]}", file=sys.stderr)
    return times, counts


def load(server: Server, clients: int, seconds: float, label: str) -> None:
    api = httpx.Client(base_url=server.base, timeout=60)
    ids = []
    for _ in range(13):
        ids += [v["id"] for v in api.post("/api/videos", json={"prompt": PROMPT, "steps": 200,
                                                                  "variants": 4}).json()["data"]]
    few = asyncio.run(poll_times(server.base, ids, 5, 10))
    loaded, (events, failed) = asyncio.run(under_load(server.base, ids, clients, seconds))
    print(f"{label}:")
    print(f"  GET /v1/videos/{{id}}, 5 pollers: p50 {percentile(few, 0.5) * 1000:.1f} ms, "
          f"p99 {percentile(few, 0.99) * 1000:.1f} ms ({len(few)} requests)")
    print(f"  with {clients} SSE clients + {clients} pollers: p50 {percentile(loaded, 0.5) * 1000:.1f} ms, "
          f"p99 {percentile(loaded, 0.99) * 1000:.1f} ms ({len(loaded)} requests; {events} events streamed, "
          f"{failed} streams failed); p99 ratio {percentile(loaded, 0.99) / percentile(few, 0.99):.1f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, default=200, help="SSE clients, and as many pollers")
    parser.add_argument("--seconds", type=float, default=20.0)
    args = parser.parse_args()
    for workers in (1, 0):
        with tempfile.TemporaryDirectory() as folder:
            home = Path(folder)
            server = Server(home, f"sqlite:///{home / 'store.db'}", workers=workers).start()
            try:
                if workers:
                    api = httpx.Client(base_url=server.base, timeout=60)
                    submit_to_start(api, 2)  # loads the model
                    delays = submit_to_start(api, 20)
                    print(f"submit-to-start on an idle worker, 20 jobs: median {statistics.median(delays) * 1000:.0f} "
                          f"ms, p95 {percentile(delays, 0.95) * 1000:.0f} ms")
                    load(server, args.clients, args.seconds, "API and a busy worker on the same 2 cores")
                else:
                    load(server, args.clients, args.seconds, "API alone (workers on other machines)")
            except Exception:
                print((home / "serve.log").read_text()[-3000:], file=sys.stderr)
                raise
            finally:
                server.stop()


if __name__ == "__main__":
    main()
