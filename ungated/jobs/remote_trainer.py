"""A training run on a remote worker (remote.py), the worker's half: the run's files live in a
storage root of its own, keyed by the run's id and laid out as a server's (the dataset as
datasets/run/NAME, a fine-tune's starting model as models/NAME, the run's work and out folders as
trainings/ID), so the trainer code a local worker runs (training.make) runs here unchanged.

The dataset is fetched file by file from the server and kept: a run handed back (the worker was
stopped, or the member cancelled it) and claimed by this worker again fetches only what changed
and resumes from its checkpoint. The worker keeps the files of its latest run only; a run claimed
by another worker starts over there. While it trains, the lease keeper sends the loss log's new
lines and each sample clip, so the studio's Train view shows the run live; at the end the out/
folder goes to the server as one zip, which the server checks (remote_runs.py).
"""

from __future__ import annotations

import logging
import os
import shutil
import threading
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import InvalidRequest
from . import queue, remote_runs, trained, training
from .paths import client_path
from .schema import Training
from .storage import Storage

if TYPE_CHECKING:  # remote.py imports this module
    from .remote import Claim, ServerClient

log = logging.getLogger("ungated.remote")

DATASETS = "run"  # the one "client" folder of a worker's own storage root


class LocalRun:
    """One run's files on this worker, under home/ID."""

    def __init__(self, job: Claim, home: Path):
        self.job = job
        self.root = home / job.id
        self.storage = Storage(self.root)
        name = str((job.dataset or {}).get("name") or "dataset")
        self.dataset = self.root / "datasets" / DATASETS / (name if _plain(name) else "dataset")
        self.training = Training(id=job.id, model=job.model, name=job.name, dataset=str(self.dataset),
                                 options=dict(job.options), steps=job.steps, client="")

    @classmethod
    def taking_over(cls, job: Claim, home: Path) -> LocalRun:
        """This run's files, with any other run's removed (the worker keeps its latest run's only)."""
        for other in home.glob(f"{queue.TRAINING_PREFIX}*"):
            if other.name != job.id:
                shutil.rmtree(other, ignore_errors=True)
        return cls(job, home)

    @property
    def log_path(self) -> Path:
        return remote_runs.log_path(self.storage, self.job.id)

    def fetch(self, client: ServerClient, give_up: Callable[[], bool]) -> None:
        """The dataset (and a fine-tune's starting model), as the server lists them now."""
        lease = {"lease_token": self.job.lease_token}
        fetch_folder(client, self.job.dataset["files"], lease, self.dataset, give_up)
        if self.job.init:
            name = trained.name_of(str(self.job.init.get("model", "")))
            if name is None:
                raise InvalidRequest("init", "the server named a starting model that is not builtin/NAME")
            fetch_folder(client, self.job.init["files"], lease, trained.folder(self.storage, name), give_up)

    def pack(self) -> Path:
        """The run's out/ folder as one zip (stored: weights and clips do not compress)."""
        out = training.folder(self.storage, self.job.id) / "out"
        package = self.root / "result.zip"
        partial = package.with_suffix(".part")
        with zipfile.ZipFile(partial, "w", zipfile.ZIP_STORED) as archive:
            for path in sorted(p for p in out.rglob("*") if p.is_file()):
                archive.write(path, path.relative_to(out).as_posix())
        partial.replace(package)
        return package

    def remove(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)


def _plain(name: str) -> bool:
    try:
        return len(client_path(name).parts) == 1 and not name.startswith(".")
    except InvalidRequest:
        return False


def fetch_folder(client: ServerClient, listing_url: str, lease: dict, target: Path,
                 give_up: Callable[[], bool]) -> None:
    """Make target a copy of the folder the server lists at listing_url: files it already holds at
    the listed size and time are kept, others fetched (streamed, each checked for its size), and
    files the server no longer lists removed."""
    files = client.call("GET", listing_url, params=lease, give_up=give_up).json()["files"]
    wanted = set()
    for entry in files:
        path = target / client_path(str(entry["path"]))  # the server's names, checked as a client's are
        wanted.add(path)
        if path.is_file() and (path.stat().st_size, path.stat().st_mtime_ns) == (entry["size"], entry["modified_ns"]):
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(f".{path.name}.part")
        client.call("GET", entry["url"], params=lease, give_up=give_up, sink=partial)
        if partial.stat().st_size != entry["size"]:
            raise OSError(f"{entry['path']}: received {partial.stat().st_size} bytes; the server listed "
                          f"{entry['size']}")
        # The server's time, so the trainer's cache (keyed by size and time) knows the file again.
        os.utime(partial, ns=(entry["modified_ns"], entry["modified_ns"]))
        partial.replace(path)
    for path in [p for p in target.rglob("*") if p.is_file() and p not in wanted]:
        path.unlink()


class LiveView:
    """What the studio's Train view shows of a run, sent from the worker: the loss log's new lines
    (from where the server's copy ends; from the start after a mismatch, which replaces the
    server's copy) and each sample clip the trainer draws."""

    def __init__(self, client: ServerClient, job: Claim, log_path: Path):
        self.client, self.job, self.log_path = client, job, log_path
        self.sent = 0  # bytes of the local log the server has
        self._samples: list[Path] = []
        self._lock = threading.Lock()  # the lease keeper and the training thread both send

    def hand_sample(self, path: Path) -> None:
        """A clip the trainer drew (the final one goes with the result instead)."""
        if path.parent.name == "samples":
            self._samples.append(path)

    def send(self, give_up: Callable[[], bool]) -> None:
        from .remote import OffsetMismatch  # here: remote.py imports this module

        where, lease = f"/api/worker/jobs/{self.job.id}", {"lease_token": self.job.lease_token}
        with self._lock:
            while data := self._unsent_lines():
                try:
                    self.client.call("PUT", f"{where}/log", params={**lease, "offset": self.sent}, content=data,
                                     give_up=give_up, resend=False,
                                     headers={"Content-Type": "application/octet-stream"})
                except OffsetMismatch:
                    self.sent = 0  # the server holds another log (another worker's): send all of ours
                    continue
                self.sent += len(data)
            while self._samples:
                path = self._samples[0]
                step = int(path.stem.removeprefix("step-"))
                self.client.call("PUT", f"{where}/samples/{step}", params=lease, content=path.read_bytes(),
                                 give_up=give_up, resend=False, headers={"Content-Type": "video/mp4"})
                self._samples.pop(0)

    def _unsent_lines(self) -> bytes:
        """The log's whole lines past what was sent, up to what one call may carry."""
        if not self.log_path.is_file():
            return b""
        with self.log_path.open("rb") as file:
            file.seek(self.sent)
            data = file.read(remote_runs.MAX_LOG_CHUNK)
        return data[:data.rfind(b"\n") + 1]
