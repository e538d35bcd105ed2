"""Nothing accepted is lost: kill -9 a worker, or the server (with or without its workers), in the
middle of jobs; once it is running again every job completes, each with exactly one result. A
worker that dies under a live server costs its job an attempt; a server going down does not.
(tests/test_faults.py kills the whole server 20 times, restarts PostgreSQL and fills disks.)"""

from __future__ import annotations

import os
import signal
import time

import openai
import pytest
from sqlalchemy import select

from ungated.jobs.schema import Video, Worker
from ungated.jobs.store import Store

from .service import Server

SLOW = {"steps": 200}  # a few seconds a clip on the CPU: long enough to be killed mid-way


def wait_for(predicate, timeout: float = 120.0, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def table(db_url: str, kind) -> list:
    store = Store(db_url)
    try:
        with store.read() as session:
            return list(session.scalars(select(kind)))
    finally:
        store.dispose()


def rows(db_url: str) -> list[Video]:
    return table(db_url, Video)


def worker_pids(db_url: str) -> list[int]:
    return [worker.pid for worker in table(db_url, Worker)]


def one_running(db_url: str) -> Video | None:
    return next((v for v in rows(db_url) if v.status == "in_progress" and v.progress >= 5), None)


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with open(f"/proc/{pid}/stat") as stat:  # a zombie has exited
        return stat.read().split()[2] != "Z"


def assert_each_completed_once(home, db_url: str, ids: list[str]) -> None:
    def all_done():
        found = {v.id: v for v in rows(db_url)}
        return all(found[i].status == "completed" for i in ids) and found

    found = wait_for(all_done, what="every job to complete")
    for video_id in ids:
        clips = list((home / "files" / "videos" / video_id).glob("*.mp4"))
        assert len(clips) == 1 and found[video_id].result.endswith(clips[0].name)


def submit(server: Server, count: int = 3) -> list[str]:
    client = openai.OpenAI(base_url=f"{server.base}/v1", api_key="x", max_retries=0)
    return [client.videos.create(prompt=f"a red circle bouncing {i}", extra_body=SLOW).id for i in range(count)]


def test_a_worker_killed_mid_job_is_replaced_and_its_job_done_again(tmp_path, db_url):
    server = Server(tmp_path, db_url).start()
    try:
        ids = submit(server)
        victim = wait_for(lambda: one_running(db_url), what="a job to start")
        (pid,) = worker_pids(db_url)
        os.kill(pid, signal.SIGKILL)
        assert_each_completed_once(tmp_path, db_url, ids)
        retried = next(v for v in rows(db_url) if v.id == victim.id)
        assert retried.attempts == 2
    finally:
        server.stop()


@pytest.mark.parametrize("workers_too", [False, True], ids=["server", "server-and-workers"])
def test_a_server_killed_mid_job_loses_nothing_after_a_restart(tmp_path, db_url, workers_too):
    server = Server(tmp_path, db_url).start()
    ids = submit(server)
    wait_for(lambda: one_running(db_url), what="a job to start")
    pids = worker_pids(db_url)
    if workers_too:
        for pid in pids:
            os.kill(pid, signal.SIGKILL)
    server.kill()
    wait_for(lambda: not any(alive(pid) for pid in pids), timeout=30, what="the workers to exit")
    restarted = Server(tmp_path, db_url).start()
    try:
        assert_each_completed_once(tmp_path, db_url, ids)
        # The server going down was not the jobs' fault: no attempt counted against them.
        assert [v.attempts for v in rows(db_url) if v.id in ids] == [1] * len(ids)
    finally:
        restarted.stop()
