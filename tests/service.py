"""Running `ungated serve` as a user would, in a subprocess on a free port, for the service tests."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Server:
    def __init__(self, home: Path, db_url: str, workers: int = 1, port: int | None = None, extra: tuple = (),
                 host: str = "127.0.0.1", launcher: tuple = ()):
        """host: the address to listen on; launcher: a command that runs serve's command line
        elsewhere (tests/netns.py: `ip netns exec NAMESPACE`)."""
        self.home, self.db_url, self.workers, self.extra = home, db_url, workers, tuple(extra)
        self.host, self.launcher = host, tuple(launcher)
        self.port = port or free_port()
        self.base = f"http://{host}:{self.port}"
        self.process: subprocess.Popen | None = None

    def start(self) -> "Server":
        env = {**os.environ, "UNGATED_HOME": str(self.home)}
        command = [*self.launcher, sys.executable, "-m", "ungated", "serve", "--host", self.host,
                   "--port", str(self.port), "--db", self.db_url, "--workers", str(self.workers), *self.extra]
        log = open(self.home / "serve.log", "ab")
        # A session of its own: serve and its workers form one process group, killed together.
        self.process = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"serve exited: {(self.home / 'serve.log').read_text()[-2000:]}")
            try:
                httpx.get(f"{self.base}/api/me", timeout=1)
                return self
            except httpx.TransportError:
                time.sleep(0.2)
        raise RuntimeError("serve did not answer within 60 s")

    def kill(self) -> None:
        """kill -9: no chance to clean up."""
        self.process.send_signal(signal.SIGKILL)
        self.process.wait()

    def kill_group(self) -> None:
        """kill -9 of serve and its workers at once, as a crash or power loss of the machine would."""
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()

    def log(self) -> str:
        return (self.home / "serve.log").read_text(errors="replace")

    def stop(self, wait: float = 30) -> None:
        """Ask serve to stop, waiting up to wait seconds for it (it waits for open requests), then kill it."""
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(wait)
            except subprocess.TimeoutExpired:
                self.kill()
        if self.process:
            with contextlib.suppress(ProcessLookupError):  # workers a failed test left behind
                os.killpg(self.process.pid, signal.SIGKILL)
