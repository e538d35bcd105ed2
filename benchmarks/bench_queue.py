"""Queue throughput: jobs claimed and completed per second, on SQLite and on PostgreSQL.

N jobs are queued, then P claimer processes each loop claim -> complete (the two guarded
statements every job costs) until the queue is empty. SQLite runs as ungated configures it (WAL,
synchronous=NORMAL); PostgreSQL is a local server with fsync on, reached over a Unix socket
(Debian's packages; started and removed by the benchmark).

    python benchmarks/bench_queue.py [--jobs 3000] [--processes 1,4]
"""

from __future__ import annotations

import argparse
import multiprocessing
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # for tests.postgres

from ungated.jobs import queue  # noqa: E402
from ungated.jobs.store import Store  # noqa: E402


def fill(url: str, jobs: int) -> None:
    store = Store(url)
    store.migrate()
    job = queue.NewJob(model="builtin", requested_model="builtin", request={"prompt": "x"}, prompt="x",
                       size="64x64", seconds=2.0, seed=0, steps=32)
    for start in range(0, jobs, 500):
        queue.submit(store, [job] * min(500, jobs - start), client=f"client-{start % 7}")
    store.dispose()


def drain(url: str, name: str, counts) -> None:
    store = Store(url)
    done = 0
    while (video := queue.claim(store, name, ["builtin"])) is not None:
        queue.complete(store, video.id, video.lease_token, f"videos/{video.id}/x.mp4")
        done += 1
    counts.put(done)
    store.dispose()


def run(url: str, jobs: int, processes: int) -> float:
    fill(url, jobs)
    counts = multiprocessing.Queue()
    workers = [multiprocessing.Process(target=drain, args=(url, f"bench:{i}", counts)) for i in range(processes)]
    started = time.perf_counter()
    for worker in workers:
        worker.start()
    total = sum(counts.get() for _ in workers)
    elapsed = time.perf_counter() - started
    for worker in workers:
        worker.join()
    assert total == jobs, f"{total} of {jobs} jobs done"
    return jobs / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--jobs", type=int, default=3000)
    parser.add_argument("--processes", default="1,4")
    args = parser.parse_args()
    from tests.postgres import TemporaryPostgres, binaries

    server = TemporaryPostgres(binaries(), durable=True).start()
    print(f"{args.jobs} jobs, claim + complete per job; jobs per second")
    print(f"{'store':<12}{'processes':>10}{'jobs/s':>10}")
    try:
        for processes in map(int, args.processes.split(",")):
            with tempfile.TemporaryDirectory() as folder:
                sqlite = run(f"sqlite:///{Path(folder) / 'bench.db'}", args.jobs, processes)
            postgres = run(server.create_database(f"bench_{processes}"), args.jobs, processes)
            print(f"{'SQLite':<12}{processes:>10}{sqlite:>10.0f}")
            print(f"{'PostgreSQL':<12}{processes:>10}{postgres:>10.0f}")
    finally:
        server.stop()


if __name__ == "__main__":
    main()
