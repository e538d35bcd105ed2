"""The queue's guarantees, on the store directly: order, fair share, exclusive claims, leases,
retries and cancel."""

from __future__ import annotations

import errno
import os
import subprocess
import threading
import time

import pytest

from ungated.jobs import processes, queue
from ungated.jobs.schema import Video


def job(model: str = "builtin", steps: int = 10) -> queue.NewJob:
    return queue.NewJob(model=model, requested_model=model, request={"prompt": "p"}, prompt="p", size="64x64",
                        seconds=2.0, seed=1, steps=steps)


def submit(store, client: str = "a", count: int = 1, priority: int = 0, model: str = "builtin") -> list[str]:
    return [queue.submit(store, [job(model)], client=client, priority=priority)[0].id for _ in range(count)]


def drain(store, models=("builtin",)) -> list[str]:
    taken = []
    while (video := queue.claim(store, "w", list(models))) is not None:
        taken.append(video.id)
    return taken


def row(store, video_id: str) -> Video:
    with store.read() as session:
        return session.get(Video, video_id)


def test_one_clients_fifty_jobs_do_not_starve_anothers_one(store):
    greedy = submit(store, "greedy", 50)
    first = queue.claim(store, "w", ["builtin"])
    assert first.id == greedy[0]
    modest = submit(store, "modest", 1)
    order = drain(store)
    assert order.index(modest[0]) <= 1
    assert [v for v in order if v != modest[0]] == greedy[1:]  # each client's own jobs stay in order


def test_priority_goes_first_and_workers_take_only_their_models(store):
    low = submit(store, "a", 2)
    other_model = submit(store, "a", 1, model="wan2.1-t2v-1.3b")
    high = submit(store, "b", 1, priority=5)
    assert drain(store) == [high[0], *low]
    assert drain(store, ["wan2.1-t2v-1.3b"]) == other_model


def test_concurrent_claims_never_take_the_same_job(store):
    ids = set(submit(store, "a", 40))
    taken: list[str] = []

    def claimer(name: str) -> None:
        while (video := queue.claim(store, name, ["builtin"])) is not None:
            taken.append(video.id)

    threads = [threading.Thread(target=claimer, args=(f"w{i}",)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(taken) == sorted(ids)


def test_an_expired_lease_is_requeued_and_the_old_worker_can_no_longer_write(store, monkeypatch):
    video_id = submit(store)[0]
    stale = queue.claim(store, "w1", ["builtin"])
    monkeypatch.setattr(queue, "LEASE_SECONDS", -1.0)
    queue.heartbeat(store, video_id, stale.lease_token)  # renewed into the past: expired
    assert queue.reap(store) == [video_id]
    assert row(store, video_id).status == queue.QUEUED and row(store, video_id).error_code == "worker_lost"
    monkeypatch.setattr(queue, "RETRY_DELAYS", (0.0, 0.0))
    with store.write() as session:
        session.get(Video, video_id).not_before = 0.0
    fresh = queue.claim(store, "w2", ["builtin"])
    assert fresh.id == video_id and fresh.attempts == 2
    with pytest.raises(queue.LeaseLost):
        queue.heartbeat(store, video_id, stale.lease_token)
    assert not queue.complete(store, video_id, stale.lease_token, "videos/x/stale.mp4")
    assert queue.complete(store, video_id, fresh.lease_token, "videos/x/fresh.mp4", seconds_per_step=0.5)
    done = row(store, video_id)
    assert done.status == queue.COMPLETED and done.result == "videos/x/fresh.mp4" and done.error_code is None


def test_failures_retry_a_bounded_number_of_times_and_keep_the_reason(store, monkeypatch):
    monkeypatch.setattr(queue, "RETRY_DELAYS", (0.0, 0.0))
    video_id = submit(store)[0]
    statuses = []
    for _ in range(queue.MAX_ATTEMPTS):
        claimed = queue.claim(store, "w", ["builtin"])
        statuses.append(queue.fail(store, video_id, claimed.lease_token, "generation_failed", "OutOfMemoryError",
                                   retry=True))
    assert statuses == [queue.QUEUED] * (queue.MAX_ATTEMPTS - 1) + [queue.FAILED]
    assert queue.claim(store, "w", ["builtin"]) is None
    failed = row(store, video_id)
    assert failed.error_message == "OutOfMemoryError" and failed.attempts == queue.MAX_ATTEMPTS


def test_a_retry_waits_before_it_can_be_claimed_again(store):
    video_id = submit(store)[0]
    claimed = queue.claim(store, "w", ["builtin"])
    queue.fail(store, video_id, claimed.lease_token, "generation_failed", "boom", retry=True)
    assert queue.claim(store, "w", ["builtin"]) is None
    assert row(store, video_id).not_before > time.time()


def test_cancel_a_queued_job_at_once_and_a_running_one_at_its_next_heartbeat(store):
    queued, running = submit(store, count=2)
    claimed = queue.claim(store, "w", ["builtin"])
    assert claimed.id == queued
    assert queue.cancel(store, running) == queue.CANCELLED
    assert queue.cancel(store, queued) == queue.RUNNING
    assert queue.heartbeat(store, queued, claimed.lease_token, 3, 10) is True
    queue.finish_cancelled(store, queued, claimed.lease_token)
    assert row(store, queued).status == queue.CANCELLED
    assert queue.cancel(store, "video_unknown") is None


def test_position_and_eta_follow_the_measured_speed(store):
    first, second, third = submit(store, count=3)
    claimed = queue.claim(store, "w", ["builtin"])
    queue.complete(store, first, claimed.lease_token, "videos/a.mp4", seconds_per_step=2.0)
    with store.read() as session:
        outlook = queue.outlook(session, session.get(Video, third))
    assert outlook.position == 1
    assert outlook.eta_seconds == pytest.approx((10 + 10) * 2.0)


def test_a_worker_writes_preview_frames_while_sampling(store, tmp_path, tiny_model_dir, monkeypatch):
    from PIL import Image

    from ungated.engines.builtin.engine import BuiltinEngine
    from ungated.jobs import worker as worker_module
    from ungated.jobs.storage import Storage

    monkeypatch.setattr(worker_module, "PREVIEW_SECONDS", 0.0)  # a preview at every step
    storage = Storage(tmp_path / "files")
    runner = worker_module.Worker(store, storage, ["builtin"])
    runner.engines["builtin"] = BuiltinEngine(model_dir=tiny_model_dir)
    [video] = queue.submit(store, [job(steps=6)])
    runner.run(queue.claim(store, runner.id, ["builtin"]))
    with store.read() as session:
        done = session.get(Video, video.id)
    assert done.status == queue.COMPLETED
    with Image.open(storage.preview_path(video.id)) as preview:
        assert preview.format == "JPEG" and max(preview.size) == 256


def test_the_migrations_make_the_tables_the_code_declares(store):
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from ungated.jobs.schema import Base

    with store.engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    assert differences == []


def test_trainings_share_the_queue_by_age_and_the_lease_rules(store, monkeypatch):
    from ungated.jobs.schema import Training

    video_id = submit(store)[0]
    run = queue.submit_training(store, "builtin", "style", "datasets/a/clips", {}, steps=100, client="a")
    later_video = submit(store)[0]
    taken = [queue.claim_next(store, "w", ["builtin"]) for _ in range(3)]
    assert [job.id for job in taken] == [video_id, run.id, later_video]
    assert queue.claim_next(store, "w", ["builtin"]) is None
    assert queue.heartbeat(store, run.id, taken[1].lease_token, 40, 100, stage="training") is False
    with store.read() as session:
        assert (session.get(Training, run.id).progress, session.get(Training, run.id).stage) == (40, "training")

    # A lost worker's run goes back to the queue; cancelled, it resumes on request (attempts afresh).
    monkeypatch.setattr(queue, "LEASE_SECONDS", -1.0)
    queue.heartbeat(store, run.id, taken[1].lease_token)
    assert queue.reap(store) == [run.id]
    assert queue.cancel(store, run.id) == queue.CANCELLED
    assert queue.resume(store, run.id) == queue.QUEUED
    with store.read() as session:
        resumed = session.get(Training, run.id)
    assert (resumed.attempts, resumed.cancel_requested, resumed.error_code) == (0, False, None)
    with pytest.raises(queue.OverLimit):
        queue.submit_training(store, "builtin", "again", "datasets/a/clips", {}, steps=10, client="a", active_limit=1)


def test_a_videos_place_and_eta_count_the_training_runs_ahead_of_it(store):
    from ungated.jobs.schema import ModelStats

    with store.write() as session:
        session.add(ModelStats(model="builtin", seconds_per_step=1.0, jobs=1))
        session.add(ModelStats(model=queue.training_stats_key("builtin"), seconds_per_step=0.5, jobs=1))
    queue.submit_training(store, "builtin", "older", "datasets/a/x", {}, steps=100)
    video_id = submit(store)[0]  # 10 steps
    queue.submit_training(store, "builtin", "newer", "datasets/a/y", {}, steps=1000)
    with store.read() as session:
        outlook = queue.outlook(session, session.get(Video, video_id))
    assert outlook.position == 1  # the older run goes first; the newer one waits behind the video
    assert outlook.eta_seconds == pytest.approx(100 * 0.5 + 10 * 1.0)


def dead_process_mark() -> str:
    """The mark of a process that has since exited."""
    child = subprocess.Popen(["sleep", "30"])
    mark = processes.process_mark(child.pid)
    child.kill()
    child.wait()
    return mark


def test_reaping_counts_an_attempt_only_when_the_job_may_be_to_blame(store):
    live, dead = processes.process_mark(os.getpid()), dead_process_mark()
    holders = {
        "server down": f"here:{dead}:aaaaaa:{dead}",  # the worker died with its serve: not the job's fault
        "crashed": f"here:{dead}:bbbbbb:{live}",  # its serve lived on: a segfault, the OOM killer
        "alone": f"here:{dead}:cccccc",  # `ungated worker`, no serve to ask
        "alive": f"here:{live}:dddddd:{live}",  # its lease ran out in a database outage: still its own
        "elsewhere": f"there:{dead}:eeeeee",  # another machine, lease current
    }
    ids = {case: submit(store)[0] for case in holders}
    for case, worker in holders.items():
        assert queue.claim(store, worker, ["builtin"]).id == ids[case]
    with store.write() as session:
        session.get(Video, ids["alive"]).lease_until = time.time() - 60
    assert sorted(queue.reap(store, "here")) == sorted(ids[c] for c in ("server down", "crashed", "alone"))
    outcomes = {case: (row(store, i).status, row(store, i).attempts, row(store, i).error_code)
                for case, i in ids.items()}
    assert outcomes == {"server down": (queue.QUEUED, 0, None), "crashed": (queue.QUEUED, 1, "worker_lost"),
                        "alone": (queue.QUEUED, 1, "worker_lost"), "alive": (queue.RUNNING, 1, None),
                        "elsewhere": (queue.RUNNING, 1, None)}
    assert row(store, ids["server down"]).not_before <= time.time()  # first in line again, at once

    with store.write() as session:  # silent far longer than any outage: hung
        session.get(Video, ids["alive"]).lease_until = time.time() - queue.HUNG_SECONDS - 1
    assert queue.reap(store, "here") == [ids["alive"]]
    assert row(store, ids["alive"]).error_code == "worker_lost"


def test_a_result_is_recorded_after_an_outage_outlived_the_lease_and_may_be_recorded_twice(store, monkeypatch):
    video_id = submit(store)[0]
    claimed = queue.claim(store, "w", ["builtin"])
    monkeypatch.setattr(queue, "LEASE_SECONDS", -1.0)
    queue.heartbeat(store, video_id, claimed.lease_token)  # ran out while the store was away; nobody took it
    assert queue.complete(store, video_id, claimed.lease_token, "videos/x/a.mp4")
    assert queue.complete(store, video_id, claimed.lease_token, "videos/x/a.mp4")  # again: its answer was lost
    assert not queue.complete(store, video_id, claimed.lease_token, "videos/x/b.mp4")
    assert row(store, video_id).result == "videos/x/a.mp4"


def test_a_claim_recorded_as_the_store_went_away_is_handed_back_uncounted(store):
    video_id = submit(store)[0]
    queue.claim(store, "w1", ["builtin"])  # the worker never heard the answer
    assert queue.release_held(store, "w2") == []
    assert queue.release_held(store, "w1") == [video_id]
    assert (row(store, video_id).status, row(store, video_id).attempts) == (queue.QUEUED, 0)


def test_a_worker_waits_out_a_database_outage_to_record_its_result(store, tmp_path, tiny_model_dir, monkeypatch):
    import sqlite3

    from sqlalchemy.exc import OperationalError

    from ungated.engines.builtin.engine import BuiltinEngine
    from ungated.jobs import worker as worker_module
    from ungated.jobs.storage import Storage

    storage = Storage(tmp_path / "files")
    runner = worker_module.Worker(store, storage, ["builtin"])
    runner.engines["builtin"] = BuiltinEngine(model_dir=tiny_model_dir)
    [video] = queue.submit(store, [job(steps=2)])
    folder = storage.root / "videos" / video.id  # what attempts killed earlier left behind
    folder.mkdir(parents=True)
    for name in ("0ld.mp4", "0ld.thumb.jpg", ".0ld.sprites.jpg.part", ".1ate.mp4.part", "preview.jpg"):
        (folder / name).write_bytes(b"x")
    real, outage = queue.complete, iter(range(2))

    def complete_after_an_outage(*args, **kwargs):
        if next(outage, None) is not None:
            raise OperationalError("UPDATE videos ...", {}, sqlite3.OperationalError("database is locked"))
        return real(*args, **kwargs)

    monkeypatch.setattr(queue, "complete", complete_after_an_outage)
    runner.run(queue.claim(store, runner.id, ["builtin"]))
    done = row(store, video.id)
    token = done.result.rpartition("/")[2].removesuffix(".mp4")
    assert (done.status, done.attempts) == (queue.COMPLETED, 1)
    assert sorted(p.name for p in folder.iterdir()) == sorted(
        ["preview.jpg", f"{token}.mp4", f"{token}.thumb.jpg", f"{token}.sprites.jpg"])


def test_a_full_disk_fails_the_job_at_once_saying_so(store, tmp_path, tiny_model_dir, monkeypatch):
    from ungated.engines.builtin.engine import BuiltinEngine
    from ungated.jobs import worker as worker_module
    from ungated.jobs.storage import Storage

    def no_space(*_args, **_kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(worker_module, "generate_clips", no_space)
    runner = worker_module.Worker(store, Storage(tmp_path / "files"), ["builtin"])
    runner.engines["builtin"] = BuiltinEngine(model_dir=tiny_model_dir)
    [video] = queue.submit(store, [job(steps=2)])
    runner.run(queue.claim(store, runner.id, ["builtin"]))
    failed = row(store, video.id)
    assert (failed.status, failed.attempts, failed.error_code) == (queue.FAILED, 1, "storage_full")
    assert "storage is full" in failed.error_message


def test_a_clip_whose_artist_changed_while_it_was_made_is_signed_for_the_new_one(store, tmp_path, tiny_model_dir):
    from sqlalchemy import update

    from ungated.engines.builtin.engine import BuiltinEngine
    from ungated.jobs import worker as worker_module
    from ungated.jobs.storage import Storage
    from ungated.provenance import c2pa_manifest

    storage = Storage(tmp_path / "files")
    runner = worker_module.Worker(store, storage, ["builtin"])
    runner.engines["builtin"] = BuiltinEngine(model_dir=tiny_model_dir)
    [video] = queue.submit(store, [job(steps=2)], artist="Ada")
    claimed = queue.claim(store, runner.id, ["builtin"])
    with store.write() as session:  # changed after the claim, before the clip is signed
        session.execute(update(Video).where(Video.id == video.id).values(artist="Ada L."))
    runner.run(claimed)
    done = row(store, video.id)
    assert done.status == queue.COMPLETED
    report = c2pa_manifest.read(storage.resolve(done.result))
    assert report.artist == "Ada L." and report.state in ("Valid", "Trusted")


def test_an_untrusted_worker_never_gets_a_prompt_its_artist_keeps_private(store):
    from dataclasses import replace

    private = replace(job(), request={**job().request, "provenance": {"publish_prompt": False}})
    [kept] = queue.submit(store, [private])
    [shared] = queue.submit(store, [replace(job(), request={**job().request, "provenance": {"publish_prompt": True}})])
    [plain] = queue.submit(store, [job()])  # no provenance choices stored: published
    taken = [queue.claim(store, "remote:wt_x:abc", ["builtin"], published_prompts_only=True) for _ in range(3)]
    assert [video.id if video else None for video in taken] == [shared.id, plain.id, None]
    assert queue.claim(store, "w", ["builtin"]).id == kept.id  # a trusted worker takes it
