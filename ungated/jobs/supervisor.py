"""`ungated serve` runs its workers as child processes, so a model that crashes or runs out of
memory takes down one worker, never the API. A worker that exits is started again (after a
growing pause if it keeps dying); its job, if it had one, goes back to the queue."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import threading
import time

log = logging.getLogger("ungated.supervisor")

MAX_PAUSE_SECONDS = 30.0


class Supervisor(threading.Thread):
    def __init__(self, count: int, db_url: str, storage_root: str, models: list[str], options: list[str] = ()):
        super().__init__(daemon=True, name="worker-supervisor")
        self.command = [sys.executable, "-m", "ungated", "worker", "--db", db_url, "--storage", storage_root,
                        "--models", ",".join(models), *options, "--parent-pid", str(os.getpid())]
        self.processes: list[subprocess.Popen | None] = [None] * count
        self.pauses = [1.0] * count
        self._stop = threading.Event()

    def run(self) -> None:
        while not self._stop.is_set():
            for slot, process in enumerate(self.processes):
                if process is not None and process.poll() is None:
                    continue
                if process is not None:
                    log.warning("worker %d (pid %d) exited with %s; starting another in %.0f s",
                                slot, process.pid, process.returncode, self.pauses[slot])
                    if self._stop.wait(self.pauses[slot]):
                        return
                    self.pauses[slot] = min(MAX_PAUSE_SECONDS, self.pauses[slot] * 2)
                self.processes[slot] = subprocess.Popen(self.command)
            self._stop.wait(0.5)

    def stop(self, timeout: float = 20.0) -> None:
        """Ask every worker to stop (a running job is handed back to the queue) and wait for them."""
        self._stop.set()
        alive = [p for p in self.processes if p is not None and p.poll() is None]
        for process in alive:
            process.terminate()
        deadline = time.monotonic() + timeout
        for process in alive:
            try:
                process.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                process.kill()
