"""Tokens of remote workers, the community GPU pool (api/workers.py speaks with them). A token is
"ugw_" + 32 random bytes (URL-safe base64); the store keeps only its SHA-256 and the secret is
shown once, at creation. Each token keeps a record: the models it may serve, jobs done and failed,
results refused, its measured seconds per step and when it was last seen. A token whose results
are refused PAUSE_AFTER_REFUSALS times in a row is paused until an admin unpauses it."""

from __future__ import annotations

import hashlib
import secrets
import time

from sqlalchemy import delete, select, update

from ..errors import InvalidRequest, UngatedError
from . import queue
from .schema import Training, Video, Worker, WorkerToken
from .store import Store

PREFIX = "ugw_"
PAUSE_AFTER_REFUSALS = 3


class NameTaken(UngatedError):
    """Another token (live or revoked) has the name."""


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def worker_prefix(token_id: str) -> str:
    """The start of the queue's worker id of every process running with this token."""
    return f"remote:{token_id}:"


def add(store: Store, name: str, models: list[str] | None = None, untrusted: bool = False) -> tuple[WorkerToken, str]:
    """A new token and its secret (which is not stored); UngatedError when the name is taken."""
    name = name.strip()
    if not name or len(name) > 100 or not name.isprintable():
        raise InvalidRequest("name", "give the worker a name of 1 to 100 printable characters, e.g. its owner's")
    secret = PREFIX + secrets.token_urlsafe(32)
    token = WorkerToken(id=queue.new_id("wt_")[:16], name=name, secret_hash=_hash(secret), models=models or None,
                        untrusted=untrusted, created_at=time.time(), jobs_done=0, jobs_failed=0, results_refused=0,
                        consecutive_refusals=0)
    with store.write() as session:
        if session.scalar(select(WorkerToken.id).where(WorkerToken.name == name)) is not None:
            raise NameTaken(f"NAME: a worker named {name!r} already exists (revoked ones keep their name); "
                               "choose another, see `ungated workers list`")
        session.add(token)
    return token, secret


def find(store: Store, secret: str) -> WorkerToken | None:
    """The token with this secret, revoked and paused ones too (the API tells them apart), or None."""
    with store.read() as session:
        return session.scalar(select(WorkerToken).where(WorkerToken.secret_hash == _hash(secret)))


def named(store: Store, name: str) -> WorkerToken | None:
    with store.read() as session:
        return session.scalar(select(WorkerToken).where(WorkerToken.name == name))


def all_tokens(store: Store) -> list[WorkerToken]:
    with store.read() as session:
        return list(session.scalars(select(WorkerToken).order_by(WorkerToken.created_at)))


def revoke(store: Store, name: str) -> list[str] | None:
    """Revoke a live token: its next call is refused and its running jobs go back to the queue,
    their attempts not counted. Returns the ids of those jobs, or None for no live token of that name."""
    with store.write() as session:
        token = session.scalar(select(WorkerToken).where(WorkerToken.name == name, WorkerToken.revoked_at.is_(None)))
        if token is None:
            return None
        token.revoked_at = time.time()
        session.execute(delete(Worker).where(Worker.id.startswith(worker_prefix(token.id), autoescape=True)))
    return queue.release_all(store, worker_prefix(token.id))


def unpause(store: Store, name: str) -> bool:
    """Let a paused token claim again (its run of refusals starts afresh); False for no live token of that name."""
    with store.write() as session:
        statement = (update(WorkerToken).where(WorkerToken.name == name, WorkerToken.revoked_at.is_(None))
                     .values(paused_at=None, pause_reason=None, consecutive_refusals=0))
        return session.execute(statement).rowcount > 0


def seen(store: Store, token_id: str) -> None:
    with store.write(durable=False) as session:
        session.execute(update(WorkerToken).where(WorkerToken.id == token_id).values(last_seen_at=time.time()))


def record_done(store: Store, token_id: str, seconds_per_step: float | None) -> None:
    with store.write() as session:
        token = session.get(WorkerToken, token_id)
        token.jobs_done, token.consecutive_refusals, token.last_seen_at = token.jobs_done + 1, 0, time.time()
        if seconds_per_step:
            token.seconds_per_step = queue.moving_average(token.seconds_per_step, seconds_per_step)


def record_failed(store: Store, token_id: str) -> None:
    with store.write() as session:
        session.execute(update(WorkerToken).where(WorkerToken.id == token_id)
                        .values(jobs_failed=WorkerToken.jobs_failed + 1, last_seen_at=time.time()))


def record_refused(store: Store, token_id: str, reason: str) -> bool:
    """Count a refused result; pauses the token at the PAUSE_AFTER_REFUSALS-th in a row. Returns
    whether the token is paused now."""
    with store.write() as session:
        token = session.get(WorkerToken, token_id)
        token.results_refused += 1
        token.consecutive_refusals += 1
        token.last_seen_at = time.time()
        # The reasons of the run so far are kept, so the admin sees why when it ends in a pause.
        reasons = [*(token.pause_reason or "").split("\n"), reason] if token.consecutive_refusals > 1 else [reason]
        reasons = [line for line in reasons if line][-PAUSE_AFTER_REFUSALS:]
        token.pause_reason = "\n".join(reasons)
        if token.consecutive_refusals >= PAUSE_AFTER_REFUSALS and token.paused_at is None:
            token.paused_at = time.time()
        return token.paused_at is not None


def activity(store: Store) -> dict[str, dict]:
    """What each token's processes do now, by token id: {"connected": live processes (seen within
    queue.WORKER_GONE_SECONDS), "running": [{"id", "model", "progress"}] of the jobs they hold}."""
    seen = time.time() - queue.WORKER_GONE_SECONDS
    remote = "remote:"
    by_token: dict[str, dict] = {}

    def of(worker_id: str) -> dict:
        token_id = worker_id.removeprefix(remote).partition(":")[0]
        return by_token.setdefault(token_id, {"connected": 0, "running": []})

    with store.read() as session:
        for worker_id in session.scalars(select(Worker.id).where(Worker.id.startswith(remote), Worker.seen_at > seen)):
            of(worker_id)["connected"] += 1
        for table in (Video, Training):
            running = select(table.id, table.worker, table.model, table.progress).where(
                table.status == queue.RUNNING, table.worker.startswith(remote))
            for job_id, worker_id, model, progress in session.execute(running):
                of(worker_id)["running"].append({"id": job_id, "model": model, "progress": progress})
    return by_token
