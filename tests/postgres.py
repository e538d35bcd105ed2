"""A throwaway PostgreSQL server for the tests: initdb in a temporary folder, listening only on a
Unix socket there, trusted local connections, stopped at the end of the session. Debian's
packages provide the binaries (scripts/test-deps.sh installs them)."""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
from pathlib import Path


def binaries() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    return Path(found[-1]).parent if found else None


class TemporaryPostgres:
    def __init__(self, bin_dir: Path, durable: bool = False, root: Path | None = None, settings: str = ""):
        """root: an empty folder to keep the server in (default: a new temporary one); settings:
        more `-c name=value` options for the server."""
        self.bin, self.durable = bin_dir, durable  # durable: fsync on, as a real server runs
        self.root = root or Path(tempfile.mkdtemp(prefix="ungated-pg-"))
        self.data, self.socket = self.root / "data", self.root
        self.options = f"-k {self.socket} -c listen_addresses='' -c max_connections=200 {settings}"
        if not durable:
            self.options += " -c fsync=off"
        # initdb refuses to run as root: run the server as Debian's postgres user then.
        self.as_user = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        if self.as_user:
            shutil.chown(self.root, "postgres")

    def _run(self, *command: str) -> None:
        subprocess.run([*self.as_user, *command], check=True, capture_output=True)

    def start(self, *initdb_options: str) -> "TemporaryPostgres":
        self._run(str(self.bin / "initdb"), "-D", str(self.data), "-A", "trust", "-U", "postgres", "--no-sync",
                  *initdb_options)
        self.start_server()
        return self

    def start_server(self) -> None:
        self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-o", self.options, "-w", "-l",
                  str(self.root / "log"), "start")

    def stop_server(self, mode: str = "fast") -> None:
        """Stop the server, keeping its data (start_server starts it again): "fast" ends open
        sessions, as `systemctl restart postgresql` does; "immediate" is a crash."""
        self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "stop")

    def running(self) -> bool:
        status = subprocess.run([*self.as_user, str(self.bin / "pg_ctl"), "-D", str(self.data), "status"],
                                capture_output=True)
        return status.returncode == 0

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+psycopg://postgres@/{database}?host={self.socket}"

    def create_database(self, name: str) -> str:
        import psycopg

        with psycopg.connect(f"host={self.socket} user=postgres dbname=postgres", autocommit=True) as connection:
            connection.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def stop(self) -> None:
        subprocess.run([*self.as_user, str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "stop"],
                       capture_output=True)
        shutil.rmtree(self.root, ignore_errors=True)
