"""Outages, told apart from faults in one place: an error that means the database is unavailable
for a while (restarting, unreachable, locked) or that storage is full is nobody's mistake, and
waiting is the answer. The API answers these with 503 or 507 and Retry-After (api/errors.py); a
worker waits them out instead of exiting, and retries its writes to the store (jobs/worker.py);
a clip that cannot be written for lack of space fails with `storage_full`.

    >>> classify(OSError(errno.ENOSPC, "No space left on device"))
    'storage_full'
"""

from __future__ import annotations

import errno
import logging
import sys
import time
from collections.abc import Callable
from typing import TypeVar

from sqlalchemy import exc as sa

log = logging.getLogger("ungated.outages")

DATABASE_UNAVAILABLE = "database_unavailable"
STORAGE_FULL = "storage_full"

_FULL_ERRNOS = {errno.ENOSPC, errno.EDQUOT}
# PostgreSQL SQLSTATEs: a connection problem (class 08), the server shutting down, crashed or
# starting up, too many connections, out of memory, an I/O error, a read-only standby after failover.
_PG_UNAVAILABLE = {"57P01", "57P02", "57P03", "53000", "53200", "53300", "58030", "25006"}
_PG_DISK_FULL = "53100"
# SQLite result codes (the low byte of an extended code): busy, locked, read-only, I/O error,
# cannot open, locking protocol; and full.
_SQLITE_UNAVAILABLE = {5, 6, 8, 10, 14, 15}
_SQLITE_FULL = 13
_SQLITE_MESSAGES = {"database is locked": DATABASE_UNAVAILABLE, "disk i/o error": DATABASE_UNAVAILABLE,
                    "unable to open database file": DATABASE_UNAVAILABLE, "database or disk is full": STORAGE_FULL}


def classify(err: BaseException | None) -> str | None:
    """DATABASE_UNAVAILABLE, STORAGE_FULL, or None for an error that is not an outage; the
    error's causes count too (SQLAlchemy's wrapped driver error, an error raised while handling one)."""
    seen = set()
    while err is not None and id(err) not in seen:
        seen.add(id(err))
        kind = _kind(err)
        if kind is not None:
            return kind
        err = getattr(err, "orig", None) or err.__cause__ or err.__context__
    return None


def _kind(err: BaseException) -> str | None:
    if isinstance(err, OSError) and err.errno in _FULL_ERRNOS:
        return STORAGE_FULL
    if isinstance(err, sa.DBAPIError) and err.connection_invalidated:
        return DATABASE_UNAVAILABLE
    if isinstance(err, sa.TimeoutError):  # no pooled connection came free
        return DATABASE_UNAVAILABLE
    psycopg = sys.modules.get("psycopg")  # only loaded where PostgreSQL is used
    if psycopg is not None and isinstance(err, psycopg.Error):
        return _postgres_kind(err, psycopg)
    sqlite3 = sys.modules.get("sqlite3")
    if sqlite3 is not None and isinstance(err, sqlite3.Error):
        return _sqlite_kind(err)
    return None


def _postgres_kind(err, psycopg) -> str | None:
    state = err.sqlstate or ""
    if state == _PG_DISK_FULL:
        return STORAGE_FULL
    if state.startswith("08") or state in _PG_UNAVAILABLE:
        return DATABASE_UNAVAILABLE
    if not state and isinstance(err, (psycopg.OperationalError, psycopg.InterfaceError)):
        return DATABASE_UNAVAILABLE  # no answer from the server: refused, lost, closed
    return None


def _sqlite_kind(err) -> str | None:
    code = getattr(err, "sqlite_errorcode", None)
    if code is None:
        message = str(err).lower()
        return next((kind for text, kind in _SQLITE_MESSAGES.items() if text in message), None)
    if code & 0xFF == _SQLITE_FULL:
        return STORAGE_FULL
    return DATABASE_UNAVAILABLE if code & 0xFF in _SQLITE_UNAVAILABLE else None


def describe(err: BaseException) -> str:
    """The first line of an error, for a log line that stays one line."""
    lines = str(err).strip().splitlines()
    return f"{type(err).__name__}: {lines[0] if lines else ''}"


class Backoff:
    """Growing pauses between tries while an outage lasts: 0.25 s, doubling, at most 5 s."""

    def __init__(self, first: float = 0.25, most: float = 5.0):
        self.first, self.most, self.next = first, most, first

    def pause(self) -> float:
        pause, self.next = self.next, min(self.most, self.next * 2)
        return pause

    def reset(self) -> None:
        self.next = self.first


T = TypeVar("T")


def retry(action: Callable[[], T], what: str, give_up: Callable[[], bool] = lambda: False,
          wait: Callable[[float], object] = time.sleep) -> T:
    """action(), tried again after growing pauses while it fails with an outage; other errors are
    raised at once, and the outage's error is raised once give_up() says to stop waiting.

    Only for actions that may safely run twice: an outage can strike after the database has
    committed and before it has said so."""
    backoff = Backoff()
    while True:
        try:
            return action()
        except Exception as err:
            if classify(err) is None or give_up():
                raise
            pause = backoff.pause()
            log.warning("%s: %s; trying again in %.2g s", what, describe(err), pause)
            wait(pause)
