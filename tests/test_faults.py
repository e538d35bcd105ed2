"""Nothing lost, nothing run twice, under the faults an unlucky operator meets: the whole server
(serve and its workers) killed with kill -9 at random moments, PostgreSQL restarted mid-run, and
full disks under the clips or the store. Each accepted job ends completed exactly once: one clip
in its folder, no half-written file anywhere, its row pointing to that clip, one attempt counted.
Outages are answered with 503 or 507 and Retry-After, never 500. Randomness is seeded; timing is
not, so the counts asserted about it are floors."""

from __future__ import annotations

import contextlib
import os
import random
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from pathlib import Path

import av
import httpx
import pytest
from sqlalchemy import func, select

from ungated.jobs import keys
from ungated.jobs.schema import Video
from ungated.jobs.store import Store

from .postgres import TemporaryPostgres, binaries
from .service import Server

SHORT = {"steps": 40, "seconds": 2, "fps": 8, "size": "480x480"}  # 16 frames: under a second a clip on an idle CPU
KILLS = 20
FIRST_JOBS = 30


# -- helpers ---------------------------------------------------------------------------------------

def make_key(db_url: str) -> str:
    """A key for `serve --public` with limits far above what a test asks for."""
    store = Store(db_url)
    try:
        store.migrate()
        return keys.create(store, "faults", per_minute=100_000, concurrent=100_000)[1]
    finally:
        store.dispose()


def videos(db_url: str) -> dict[str, Video]:
    store = Store(db_url)
    try:
        with store.read() as session:
            return {video.id: video for video in session.scalars(select(Video))}
    finally:
        store.dispose()


def statuses(store: Store) -> Counter:
    with store.read() as session:
        return Counter(dict(session.execute(select(Video.status, func.count()).group_by(Video.status)).all()))


def submit(base: str, secret: str | None, number: int, extra: dict | None = None
           ) -> tuple[int, str | None, httpx.Response]:
    """One POST /v1/videos (with an API key for `serve --public`): (status, id when accepted, the response)."""
    body = {"prompt": f"a red circle bouncing {number}", **SHORT, **(extra or {})}
    headers = {"Authorization": f"Bearer {secret}"} if secret else {}
    response = httpx.post(f"{base}/v1/videos", json=body, headers=headers, timeout=30)
    accepted = response.status_code // 100 == 2
    return response.status_code, response.json()["id"] if accepted else None, response


def wait_until_finished(db_url: str, ids: list[str], timeout: float) -> dict[str, Video]:
    deadline = time.monotonic() + timeout
    while True:
        found = videos(db_url)
        waiting = [i for i in ids if found[i].status not in ("completed", "failed", "cancelled")]
        if not waiting:
            return found
        if time.monotonic() > deadline:
            states = Counter(found[i].status for i in waiting)
            raise AssertionError(f"{len(waiting)} of {len(ids)} jobs unfinished after {timeout:.0f} s: {states}")
        time.sleep(0.3)


def assert_each_completed_once(files: Path, db_url: str, ids: list[str], timeout: float = 300.0) -> None:
    """Every job completed, with exactly one clip (MP4, thumbnail, spritesheet) in its folder, the
    row pointing to it, one attempt counted; and no half-written file anywhere under files/."""
    found = wait_until_finished(db_url, ids, timeout)
    failed = {i: (found[i].status, found[i].error_code, found[i].error_message)
              for i in ids if found[i].status != "completed"}
    assert not failed, f"jobs that did not complete: {failed}"
    for video_id in ids:
        video = found[video_id]
        token = Path(video.result).name.removesuffix(".mp4")
        assert video.result == f"videos/{video_id}/{token}.mp4"
        clip = {f"{token}.mp4", f"{token}.thumb.jpg", f"{token}.sprites.jpg"}
        assert {p.name for p in (files / "videos" / video_id).iterdir()} - {"preview.jpg"} == clip, video_id
        with av.open(str(files / video.result)) as mp4:
            assert sum(1 for _ in mp4.decode(video=0)) == 16, video_id  # whole: the built-in model's 16 frames
        assert (video.attempts, video.error_code, video.lease_token, video.progress) == (1, None, None, 100), video_id
    assert sorted(str(p) for p in files.rglob("*.part")) == []


def wait_until(predicate, what: str, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.2)


@contextlib.contextmanager
def tmpfs(path: Path, size: str):
    """A small tmpfs mounted at path (as root; CI runs as root), unmounted at the end."""
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs to fill needs root (CI runs the tests as root)")
    path.mkdir(parents=True, exist_ok=True)
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size},mode=0777", "tmpfs", str(path)],
                             capture_output=True, text=True)
    if mounted.returncode != 0:
        pytest.skip(f"could not mount a tmpfs: {mounted.stderr.strip()}")
    try:
        yield path
    finally:
        subprocess.run(["umount", "--lazy", str(path)], capture_output=True)


def fill(folder: Path) -> Path:
    """Take every free byte of folder's file system; returns the file to delete to free it again."""
    filler = folder / f"filler-{uuid.uuid4().hex[:6]}"
    with open(filler, "wb", buffering=0) as out:
        for chunk in (2**20, 2**12, 2**9):
            with contextlib.suppress(OSError):
                while True:
                    out.write(bytes(chunk))
    return filler


def lora() -> bytes:
    """A tiny LoRA file, an upload the API writes to storage as it arrives."""
    import torch
    from safetensors.torch import save

    return save({"lora_A.weight": torch.zeros(64, 128), "lora_B.weight": torch.zeros(128, 64)})


def assert_outage_answer(response: httpx.Response, statuses=(503, 507)) -> None:
    """An outage answered as promised: 503 or 507 in OpenAI's error shape, saying what is wrong,
    with Retry-After."""
    assert response.status_code in statuses, response.text
    assert int(response.headers["retry-after"]) > 0
    code, words = {503: ("database_unavailable", "database is unavailable"),
                   507: ("storage_full", "storage is full")}[response.status_code]
    error = response.json()["error"]
    assert error["code"] == code and words in error["message"] and error["type"] == "server_error"


@contextlib.contextmanager
def started(server: Server):
    server.start()
    try:
        yield server
    finally:
        server.stop()


# -- the whole server killed ----------------------------------------------------------------------

def test_the_whole_server_killed_20_times_loses_no_job_and_runs_none_twice(tmp_path, db_url):
    rng = random.Random(26)
    secret = make_key(db_url)
    store = Store(db_url)
    accepted: list[str] = []
    kills_mid_job = 0
    started_at = time.monotonic()
    for kill in range(KILLS):
        server = Server(tmp_path, db_url, extra=("--public",)).start()
        for _ in range(FIRST_JOBS if kill == 0 else rng.choice((0, 1, 2))):
            status, video_id, response = submit(server.base, secret, len(accepted))
            assert status == 200, response.text
            accepted.append(video_id)
        if rng.random() < 0.75 and statuses(store)["queued"]:  # at a random point of a job (the worker is up
            wait_until(lambda: statuses(store)["in_progress"], "a job to start", timeout=60)  # ~2 s after the API)
            time.sleep(rng.uniform(0.0, 1.0))
        else:  # or anywhere from start-up on: loading the model, claiming, between jobs
            time.sleep(rng.uniform(0.0, 4.0))
        kills_mid_job += statuses(store)["in_progress"] > 0
        server.kill_group()
    killing = time.monotonic() - started_at
    with started(Server(tmp_path, db_url, extra=("--public",))):
        assert_each_completed_once(tmp_path / "files", db_url, accepted)
    store.dispose()
    print(f"{len(accepted)} jobs, {KILLS} kills ({killing:.0f} s), {kills_mid_job} of them with a job running")
    assert kills_mid_job >= KILLS // 2  # the kills did land on running jobs


# -- PostgreSQL restarted ------------------------------------------------------------------------

def postgres_binaries() -> Path:
    """Where PostgreSQL's programs are, or a skip where it is not installed (CI fails instead)."""
    found = binaries()
    if found is None:
        if os.environ.get("CI"):
            pytest.fail("PostgreSQL is not installed; run scripts/test-deps.sh")
        pytest.skip("PostgreSQL is not installed (scripts/test-deps.sh installs it)")
    return found


@pytest.fixture
def own_postgres():
    """A PostgreSQL server of the test's own, to restart without disturbing the session's."""
    server = TemporaryPostgres(postgres_binaries()).start()
    yield server
    server.stop()


class Client(threading.Thread):
    """Submits a job now and then and polls its latest jobs until told to stop, as an impatient
    user would; every answer's status is counted, and what breaks the promise is kept."""

    def __init__(self, base: str, secret: str, seed: int):
        super().__init__(daemon=True)
        self.base, self.secret, self.rng = base, secret, random.Random(seed)
        self.accepted: list[str] = []
        self.statuses: Counter = Counter()
        self.problems: list[str] = []  # answers that break the promise: 500s, 503s without Retry-After
        self.stop = threading.Event()
        self.submitting = threading.Event()
        self.submitting.set()

    def note(self, response: httpx.Response) -> None:
        self.statuses[response.status_code] += 1
        if response.status_code >= 500 and not (response.status_code in (503, 507)
                                                  and response.headers.get("retry-after")):
            self.problems.append(f"{response.request.method} {response.request.url.path}: "
                                 f"{response.status_code} {response.text[:300]}")

    def run(self) -> None:
        while not self.stop.is_set():
            try:
                if self.submitting.is_set():
                    status, video_id, response = submit(self.base, self.secret, self.rng.randrange(10**6))
                    self.note(response)
                    if video_id:
                        self.accepted.append(video_id)
                for video_id in self.accepted[-3:]:
                    self.note(httpx.get(f"{self.base}/v1/videos/{video_id}", timeout=30))
            except httpx.TransportError as err:  # the API server must stay up
                self.problems.append(f"{type(err).__name__}: {err}")
            self.stop.wait(self.rng.uniform(0.5, 1.5))


def test_postgresql_restarted_three_times_mid_run_loses_nothing_and_never_answers_500(tmp_path, own_postgres):
    rng = random.Random(4)
    db_url = own_postgres.create_database("faults")
    secret = make_key(db_url)
    with started(Server(tmp_path, db_url, extra=("--public",))) as server:
        clients = [Client(server.base, secret, seed) for seed in (1, 2)]
        for client in clients:
            client.start()
        mine = f"{server.base}/v1/videos?limit=1"
        for _ in range(3):
            time.sleep(rng.uniform(2.0, 5.0))
            own_postgres.stop_server()
            time.sleep(rng.uniform(0.5, 3.0))
            down = httpx.get(mine, headers={"Authorization": f"Bearer {secret}"}, timeout=30)
            assert_outage_answer(down, statuses=(503,))
            own_postgres.start_server()
            assert httpx.get(mine, headers={"Authorization": f"Bearer {secret}"}, timeout=30).status_code == 200
        time.sleep(2.0)
        for client in clients:
            client.submitting.clear()
        accepted = [video_id for client in clients for video_id in client.accepted]
        assert_each_completed_once(tmp_path / "files", db_url, accepted)
        for client in clients:
            client.stop.set()
            client.join()
        log = server.log()
    statuses = sum((client.statuses for client in clients), Counter())
    print(f"{len(accepted)} jobs; answers: {dict(statuses)}")
    assert [problem for client in clients for problem in client.problems] == []
    assert "exited with" not in log  # no worker died on the way
    assert len(accepted) >= 10


def test_a_worker_started_while_postgresql_is_down_waits_for_it_then_serves(tmp_path, own_postgres):
    db_url = own_postgres.create_database("faults")
    own_postgres.stop_server()
    log = tmp_path / "worker.log"
    with log.open("w") as out:
        worker = subprocess.Popen([sys.executable, "-m", "ungated", "worker", "--db", db_url, "--storage",
                                   str(tmp_path / "files"), "--models", "builtin"], stdout=out, stderr=out)
    try:
        wait_until(lambda: "waiting for the database" in log.read_text(), "the worker to wait", timeout=60)
        assert worker.poll() is None, log.read_text()
        own_postgres.start_server()
        wait_until(lambda: "serving builtin" in log.read_text(), "the worker to serve", timeout=60)
    finally:
        worker.terminate()
        worker.wait(30)
    assert "Traceback" not in log.read_text()


# -- full disks ----------------------------------------------------------------------------------

def test_a_full_disk_under_the_clips_fails_the_job_saying_so_and_uploads_get_507(tmp_path):
    with tmpfs(tmp_path / "files", "8m") as files:
        db_url = f"sqlite:///{tmp_path / 'store.db'}"
        with started(Server(tmp_path, db_url, extra=("--storage", str(files)))) as server:
            filler = fill(files)
            status, doomed, response = submit(server.base, None, 0)
            assert status == 200, response.text
            found = wait_until_finished(db_url, [doomed], timeout=120)[doomed]
            assert (found.status, found.error_code) == ("failed", "storage_full")
            shown = httpx.get(f"{server.base}/v1/videos/{doomed}").json()
            assert shown["error"]["code"] == "storage_full" and "storage is full" in shown["error"]["message"]

            assert_outage_answer(httpx.put(f"{server.base}/api/loras/style", content=lora()), statuses=(507,))

            filler.unlink()  # space again: everything works
            status, video_id, response = submit(server.base, None, 1)
            assert status == 200, response.text
            assert_each_completed_once(files, db_url, [video_id], timeout=120)
            assert httpx.put(f"{server.base}/api/loras/style", content=lora()).status_code == 200
            log = server.log()
        assert "exited with" not in log  # the worker failed the job; it did not die


def test_a_full_disk_under_the_store_gets_503_or_507_and_everything_works_once_freed(tmp_path):
    import sqlite3

    with tmpfs(tmp_path / "db", "8m") as folder:
        db_url = f"sqlite:///{folder / 'store.db'}"
        with started(Server(tmp_path, db_url)) as server:
            status, running_id, response = submit(server.base, None, 0, {"steps": 200, "size": "1280x720"})
            assert status == 200, response.text
            wait_until(lambda: videos(db_url)[running_id].status == "in_progress", "the job to start")
            # The next write must grow the write-ahead log, as a store whose disk filled up meets it.
            with contextlib.closing(sqlite3.connect(folder / "store.db", timeout=30)) as connection:
                connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            filler = fill(folder)

            for number in range(3):
                status, _, response = submit(server.base, None, number + 1)
                assert_outage_answer(response)
            assert httpx.get(f"{server.base}/v1/videos/{running_id}").status_code == 200  # reads go on
            met = ("could not renew the lease", "recording the result", "the store is unavailable")
            wait_until(lambda: any(words in server.log() for words in met), "the worker to meet the full store")

            filler.unlink()
            status, video_id, response = submit(server.base, None, 4)
            assert status == 200, response.text
            assert_each_completed_once(tmp_path / "files", db_url, [running_id, video_id], timeout=120)
            log = server.log()
        assert "exited with" not in log  # the worker waited for the store; it did not die


def test_a_full_disk_under_postgresql_gets_503_or_507_and_everything_works_once_freed(tmp_path):
    found = postgres_binaries()
    root = Path(tempfile.mkdtemp(prefix="ungated-pg-"))  # where the postgres user may go, unlike tmp_path
    with contextlib.ExitStack() as cleanup:
        cleanup.callback(shutil.rmtree, root, ignore_errors=True)
        cleanup.enter_context(tmpfs(root, "64m"))
        # 1 MB WAL segments, few kept: the data directory stays small enough to fill quickly.
        postgres = TemporaryPostgres(found, root=root, settings="-c min_wal_size=2MB -c max_wal_size=4MB")
        postgres.start("--wal-segsize=1")
        try:
            db_url = postgres.create_database("faults")
            with started(Server(tmp_path, db_url)) as server:
                filler = fill(root)
                refused = None
                for number in range(40):  # until a write needs a new page of a table or an index
                    status, video_id, response = submit(server.base, None, number)
                    if video_id is None:
                        refused = response
                        break
                assert refused is not None, "40 jobs queued on a full disk"
                assert_outage_answer(refused)

                filler.unlink()
                if not postgres.running():  # it gave up on the full disk; its service manager starts it again
                    postgres.start_server()

                def accepted_again() -> bool:
                    status, video_id, response = submit(server.base, None, 99)
                    assert status in (200, 503, 507), response.text
                    return video_id is not None

                wait_until(accepted_again, "the store to take jobs again", timeout=60)
                assert_each_completed_once(tmp_path / "files", db_url, list(videos(db_url)), timeout=120)
                log = server.log()
            assert "exited with" not in log
        finally:
            postgres.stop()


# -- telling outages from faults -----------------------------------------------------------------

def sqlite_error(sql: str) -> Exception:
    """The error SQLite itself raises for sql, on a database of at most two pages."""
    import sqlite3

    with contextlib.closing(sqlite3.connect(":memory:")) as connection:
        connection.executescript("CREATE TABLE t (a); PRAGMA max_page_count = 2;")
        try:
            connection.executescript(sql)
        except sqlite3.Error as err:
            return err
    raise AssertionError(f"{sql!r} did not fail")


def wrapped(orig: Exception) -> Exception:
    """orig as SQLAlchemy raises it."""
    from sqlalchemy.exc import DBAPIError

    return DBAPIError.instance("UPDATE videos ...", {}, orig, type(orig))


def outage_cases() -> list:
    import errno
    import sqlite3

    import psycopg
    from psycopg import errors

    full = sqlite_error("WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 100) "
                        "INSERT INTO t SELECT randomblob(1000) FROM n;")
    return [
        (OSError(errno.ENOSPC, "No space left on device"), "storage_full"),
        (OSError(errno.EDQUOT, "Disk quota exceeded"), "storage_full"),
        (OSError(errno.EACCES, "Permission denied"), None),
        (wrapped(full), "storage_full"),  # SQLite: database or disk is full
        (wrapped(sqlite_error("SELECT * FROM missing;")), None),  # a bug, not an outage
        (wrapped(sqlite3.OperationalError("database is locked")), "database_unavailable"),
        (wrapped(errors.AdminShutdown("terminating connection due to administrator command")),
         "database_unavailable"),
        (wrapped(errors.CannotConnectNow("the database system is starting up")), "database_unavailable"),
        (wrapped(psycopg.OperationalError("connection failed: No such file or directory")), "database_unavailable"),
        (wrapped(errors.DiskFull("could not extend file")), "storage_full"),
        (wrapped(errors.UniqueViolation("duplicate key")), None),
        (RuntimeError("while recording"), None),
    ]


def test_outages_are_told_from_faults_in_one_place():
    from ungated.jobs import outages

    for err, kind in outage_cases():
        assert outages.classify(err) == kind, err
    try:  # an error raised while handling an outage is one too
        try:
            raise OSError(28, "No space left on device")
        except OSError:
            raise RuntimeError("could not clean up")
    except RuntimeError as err:
        assert outages.classify(err) == "storage_full"
