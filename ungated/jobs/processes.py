"""Which process a worker is, told apart from a later one given the same pid, and whether it (or
the `serve` that started it) still runs on this host: what the queue's reaper asks to decide
whose fault a lost attempt was."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

_HAS_PROC = Path("/proc/self/stat").exists()


def worker_id(host: str, parent_pid: int | None) -> str:
    """HOST:PROCESS:RANDOM[:PARENT], naming the worker's process and the serve that started it."""
    parent = f":{process_mark(parent_pid)}" if parent_pid else ""
    return f"{host}:{process_mark(os.getpid())}:{secrets.token_hex(3)}{parent}"


def holder(worker: str | None) -> tuple[str, str, str | None] | None:
    """(host, process, parent process or None) of a worker id; None for no worker."""
    parts = (worker or "").split(":")
    if len(parts) < 3:
        return None
    return parts[0], parts[1], parts[3] if len(parts) > 3 else None


def process_mark(pid: int) -> str:
    """A name for one process: "PID.START", its start time in clock ticks since boot telling it
    from a later process given the same pid (a restarted container's serve is pid 1 again); just
    "PID" where there is no /proc."""
    stat = _stat(pid)
    return f"{pid}.{stat[1]}" if stat else str(pid)


def _stat(pid: int) -> tuple[str, str] | None:
    """(state, start time) of a process from /proc, or None when it does not exist."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = text.rpartition(")")[2].split()  # the command name in parentheses may hold spaces
    return fields[0], fields[19]


def alive(mark: str) -> bool:
    """Whether the process a mark names still runs here (a zombie has exited)."""
    pid, _, start = mark.partition(".")
    if not pid.isdigit():
        return True  # not ours to judge
    if not _HAS_PROC:
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True
    stat = _stat(int(pid))
    return stat is not None and stat[0] != "Z" and (not start or stat[1] == start)
