"""A remote worker: a machine anywhere that joins a server over HTTP(S) with a worker token, with
no database URL and no shared folder (`ungated worker --server URL --token TOKEN`).

It long-polls for a job for the models it serves, fetches the job's inputs and LoRAs into a work
folder of its own, makes the clip with the same engines and media pipeline as a local worker
(marked, with the job's id in the invisible watermark, but not signed: the signing key never leaves
the server), renews its lease with progress and preview frames, and uploads the MP4 in chunks,
resuming after a dropped connection. The server checks the clip, signs it and completes the job.
A training run goes the same way with the trainer code a local worker runs (remote_trainer.py):
its dataset is fetched file by file, its loss curve and samples are sent as it trains, and its
model or LoRA is uploaded for the server to check and add to its library.

The protocol (calls under /api/worker/) is described in docs/service.md. A server that is down or
busy (a dropped connection, 503, 507) is waited out, never a reason to exit; a revoked token is.
"""

from __future__ import annotations

import hashlib
import logging
import re
import secrets
import shutil
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from .. import settings
from ..engines.base import Engine, EngineOptions
from ..errors import GenerationCancelled, InvalidRequest, TrainingCancelled, UngatedError
from ..media.previews import save_preview
from . import outages, queue, trained, training
from .remote_trainer import LiveView, LocalRun, fetch_folder
from .storage import Storage
from .worker import (LeaseKeeper, TrainingPace, job_request, make_clip, sampling_progress, unload_open_engines,
                     warm_engine)

log = logging.getLogger("ungated.remote")

CLAIM_WAIT_SECONDS = 25  # a claim is answered at once when there is a job, else after this long
PAUSED_SECONDS = 60.0  # between claims while the server has paused this worker's token
OUTAGE_MOST_SECONDS = 30.0  # the longest wait for a server that is down or says Retry-After
CHUNK_BYTES = 8 * 1024 * 1024
UPLOAD_TRIES = 10  # dropped connections in a row before an upload is given up
RELEASE_PATIENCE_SECONDS = 10.0  # how long a worker going away tries to hand its job back
_SUFFIX = re.compile(r"\.[A-Za-z0-9]{1,8}")


class ServerSaid(Exception):
    """The server refused a call; the message is its own."""


class TokenRefused(ServerSaid, UngatedError):
    """The token is unknown or revoked: this worker cannot go on."""


class Paused(ServerSaid):
    """The server's operator paused this worker's token; the message says why."""


class ResultRefused(ServerSaid):
    """The uploaded clip failed the server's checks; the server puts the job back in the queue."""


class OffsetMismatch(ServerSaid):
    def __init__(self, message: str, received: int):
        super().__init__(message)
        self.received = received


class Unavailable(Exception):
    """No answer from the server (or 503/507), and the caller stopped waiting for one."""


@dataclass(frozen=True)
class Claim:
    """A job as the server hands it out: a video, whose request names inputs and LoRAs the worker
    fetches, or a training run, whose dataset (and starting model) it fetches file by file."""

    id: str
    lease_token: str
    model: str
    request: dict = field(default_factory=dict)
    seed: int | None = None
    artist: str = ""
    attempts: int = 1
    kind: str = "video"
    inputs: dict[str, str] = field(default_factory=dict)
    loras: list[dict] = field(default_factory=list)
    name: str = ""  # a training run's: what its result is called
    options: dict = field(default_factory=dict)
    steps: int = 0
    dataset: dict | None = None  # {"name", "files": the listing's URL}
    init: dict | None = None  # {"model": "builtin/NAME", "files": the listing's URL}, for a fine-tune
    model_files: str | None = None  # a video of a trained built-in model (builtin/NAME): its listing's URL

    @classmethod
    def of(cls, job: dict) -> Claim:
        known = set(cls.__dataclass_fields__)
        return cls(**{name: value for name, value in job.items() if name in known and value is not None})


def _never() -> bool:
    return False


def _always() -> bool:
    return True


class ServerClient:
    """The calls of the worker protocol, with the server's errors turned into exceptions and its
    outages waited out (until give_up() says to stop)."""

    def __init__(self, url: str, token: str, transport: httpx.BaseTransport | None = None,
                 sleep: Callable[[float], object] = time.sleep):
        self.http = httpx.Client(base_url=url.rstrip("/"), headers={"Authorization": f"Bearer {token}"},
                                 transport=transport, timeout=httpx.Timeout(60.0, connect=15.0))
        self.sleep = sleep

    def call(self, method: str, path: str, *, give_up: Callable[[], bool] = _never, resend: bool = True,
             sink: Path | None = None, **kwargs) -> httpx.Response:
        """The answer to one call, sent again while the server is away (a dropped connection only
        when resend: an upload's chunk is resent by the upload, from what the server has). With
        sink, a successful answer's body is streamed to that file instead of held in memory."""
        backoff = outages.Backoff(first=1.0, most=OUTAGE_MOST_SECONDS)
        while True:
            try:
                response = self._send(self.http.build_request(method, path, **kwargs), sink)
            except httpx.TransportError as err:
                if not resend or give_up():
                    raise Unavailable(f"{method} {path}: {outages.describe(err)}") from err
                pause = backoff.pause()
                log.warning("no answer from the server (%s); trying again in %.2g s", outages.describe(err), pause)
                self.sleep(pause)
                continue
            if response.status_code >= 500:  # 503/507 outages, and a proxy's 502/504 while the server restarts
                if give_up():
                    raise Unavailable(f"{method} {path}: {response.status_code} {_message(response)}")
                pause = min(OUTAGE_MOST_SECONDS, _retry_after(response) or backoff.pause())
                log.warning("the server is unavailable (%s); trying again in %.2g s", _message(response), pause)
                self.sleep(pause)
                continue
            if response.is_success:
                return response
            raise _refusal(response)

    def _send(self, request: httpx.Request, sink: Path | None) -> httpx.Response:
        response = self.http.send(request, stream=True)
        try:
            if sink is not None and response.is_success:
                with sink.open("wb") as out:
                    for chunk in response.iter_bytes():
                        out.write(chunk)
            else:
                response.read()
        finally:
            response.close()
        return response

    def close(self) -> None:
        self.http.close()


def _body(response: httpx.Response) -> dict:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def _message(response: httpx.Response) -> str:
    error = _body(response).get("error")
    message = error.get("message") if isinstance(error, dict) else None
    return message or f"HTTP {response.status_code}"


def _retry_after(response: httpx.Response) -> float | None:
    try:
        return max(0.0, float(response.headers.get("Retry-After", "")))
    except ValueError:
        return None


def _refusal(response: httpx.Response) -> Exception:
    error = _body(response).get("error")
    code = error.get("code") if isinstance(error, dict) else None
    message, status = _message(response), response.status_code
    if status == 401 or (status == 403 and code != "worker_paused"):
        return TokenRefused(f"the server refused this worker's token: {message}")
    if status == 403:
        return Paused(message)
    if status == 409 and code == "offset_mismatch":
        return OffsetMismatch(message, int(_body(response).get("received", 0)))
    if status == 409:
        return queue.LeaseLost(message)
    if status == 422 and code == "result_refused":
        return ResultRefused(message)
    return ServerSaid(f"{response.request.method} {response.request.url.path}: {status} {message}")


class RemoteLease(LeaseKeeper):
    """The lease keeper of a remote job: heartbeats over HTTP, each followed by the latest preview
    frame when there is a new one. Its calls do not wait out an outage: the keeper tries again."""

    def __init__(self, client: ServerClient, job: Claim):
        super().__init__(None, job, None)
        self.client, self.job = client, job
        self.revoked = False
        self._preview: bytes | None = None

    def hand_preview(self, jpeg: bytes) -> None:
        self._preview = jpeg

    def beat(self, step: int | None, total: int | None, preview_step: int, stage: str | None) -> bool:
        where = f"/api/worker/jobs/{self.job.id}"
        try:
            beat = {"lease_token": self.job.lease_token, "step": step, "total": total}
            answer = self.client.call("POST", f"{where}/heartbeat", give_up=_always, resend=False,
                                      json=beat if stage is None else {**beat, "stage": stage})
            preview, self._preview = self._preview, None
            if preview is not None:
                self.client.call("PUT", f"{where}/preview", give_up=_always, resend=False, content=preview,
                                 params={"lease_token": self.job.lease_token}, headers={"Content-Type": "image/jpeg"})
        except TokenRefused:
            self.revoked = True
            raise queue.LeaseLost("the token was revoked") from None
        return bool(_body(answer).get("cancel"))


class TrainingLease(RemoteLease):
    """The lease keeper of a training run: each heartbeat is followed by the run's live view (new
    loss lines, new samples); what does not get through goes with the next one."""

    def __init__(self, client: ServerClient, job: Claim, live: LiveView):
        super().__init__(client, job)
        self.live = live

    def beat(self, step: int | None, total: int | None, preview_step: int, stage: str | None) -> bool:
        cancel = super().beat(step, total, preview_step, stage)
        self.send_live_view()
        return cancel

    def send_live_view(self) -> None:
        """Send the live view now; raises queue.LeaseLost when the job is no longer ours."""
        try:
            self.live.send(give_up=_always)
        except TokenRefused:
            self.revoked = True
            raise queue.LeaseLost("the token was revoked") from None
        except (ServerSaid, Unavailable) as err:
            log.warning("%s: the live view waits for the next heartbeat (%s)", self.job.id, err)


class RemoteWorker:
    def __init__(self, server: str, token: str, models: list[str], options: EngineOptions = EngineOptions(),
                 transport: httpx.BaseTransport | None = None, sleep: Callable[[float], object] = time.sleep):
        self.client = ServerClient(server, token, transport, sleep)
        self.models, self.options = models, options
        self.instance = secrets.token_hex(3)
        self.engines: dict[str, Engine] = {}
        self.library = Storage(settings.home() / "work" / "remote" / "library")  # trained models fetched
        self.stopping = threading.Event()  # set to stop: a running job is handed back to the server
        self.idle = False  # waiting for a job, holding none

    def stop(self) -> None:
        """Stop (from a signal handler): at once while waiting for a job, else at the job's next step,
        handing it back."""
        self.stopping.set()
        if self.idle:
            raise SystemExit(0)

    def serve(self) -> None:
        """Claim and run jobs until stopping is set. Raises TokenRefused when the server refuses the token."""
        log.info("remote worker %s serving %s from %s", self.instance, ", ".join(self.models),
                 self.client.http.base_url)
        try:
            while not self.stopping.is_set():
                try:
                    job = self.claim()
                except Paused as paused:
                    log.warning("the server paused this worker: %s; asking again in %.0f s", paused, PAUSED_SECONDS)
                    self.stopping.wait(PAUSED_SECONDS)
                    continue
                if job is not None:
                    self.run(job)
        finally:
            self.client.close()

    def claim(self) -> Claim | None:
        self.idle = True
        try:
            response = self.client.call(
                "POST", "/api/worker/claim", give_up=self.stopping.is_set, timeout=CLAIM_WAIT_SECONDS + 30.0,
                json={"models": self.models, "instance": self.instance, "wait": CLAIM_WAIT_SECONDS})
        except Unavailable:  # stopping
            return None
        finally:
            self.idle = False
        if response.status_code == 204:
            return None
        job = Claim.of(response.json()["job"])
        if job.kind not in ("video", "training"):  # a kind of job this worker does not know: handed straight back
            self._release(job)
            return None
        return job

    def engine(self, job: Claim) -> Engine:
        """The job's engine, warm if it was loaded before; a trained built-in model's files are
        fetched first into this worker's own library (unchanged files are kept)."""
        if job.model_files:
            name = trained.name_of(job.model)
            if name is None:
                raise InvalidRequest("model", f"the server sent files for {job.model!r}, which is not builtin/NAME")
            fetch_folder(self.client, job.model_files, {"lease_token": job.lease_token},
                         trained.folder(self.library, name), self.stopping.is_set)
        return warm_engine(self.engines, trained.cache_key(job.model, self.library), job.model,
                           lambda: trained.engine(job.model, self.library, self.options))

    def run(self, job: Claim) -> None:
        if job.kind == "training":
            self.train(job)
            return
        log.info("%s: %s (attempt %d)", job.id, job.model, job.attempts)
        folder = settings.home() / "work" / "remote" / job.id
        shutil.rmtree(folder, ignore_errors=True)  # of an earlier attempt here, killed
        folder.mkdir(parents=True)
        keeper = RemoteLease(self.client, job)
        keeper.start()
        try:
            self._run(job, keeper, folder)
        finally:
            keeper.finish()
            shutil.rmtree(folder, ignore_errors=True)
        if keeper.revoked:
            raise TokenRefused("the server refused this worker's token (revoked while it held a job)")

    def _run(self, job: Claim, keeper: RemoteLease, folder: Path) -> None:
        clip = folder / "clip.mp4"
        started = time.monotonic()
        try:
            engine = self.engine(job)
            request = job_request(job.request, job.seed, lambda name, stored: self._input(job, name, stored, folder),
                                  lambda named: self._loras(job, named, folder))
            seconds_per_step = make_clip(
                engine, request, clip,
                sampling_progress(engine, keeper, lambda frame: self._preview(keeper, frame, folder)),
                lambda: keeper.should_stop() or self.stopping.is_set(), job.artist, job.id, sign=False)
        except (TokenRefused, Paused):
            raise
        except (GenerationCancelled, queue.LeaseLost, Unavailable):
            self._stopped(job, keeper)
            return
        except UngatedError as err:  # the request or the setup is wrong: another try will not help
            self._fail(job, "invalid_request", str(err), retry=False)
            return
        except Exception as err:  # out of memory, a bug, a bad GPU, a full disk: worth another attempt
            log.exception("%s failed", job.id)
            self._fail(job, "generation_failed", f"{type(err).__name__}: {err}", retry=True)
            return
        self._deliver(job, keeper, clip, seconds_per_step, time.monotonic() - started)

    def train(self, job: Claim) -> None:
        """Run a training run as a local worker does (training.make), in a folder of its own keyed by
        the run's id, and deliver its result; the folder stays while the run may come back here to
        resume (handed back, cancelled, failed with attempts left)."""
        log.info("%s: training %s (attempt %d)", job.id, job.model, job.attempts)
        if job.model != "builtin":  # the open model's pipeline needs the memory a warm engine holds
            unload_open_engines(self.engines)
        run = LocalRun.taking_over(job, settings.home() / "work" / "remote")
        keeper = TrainingLease(self.client, job, LiveView(self.client, job, run.log_path))
        keeper.start()
        try:
            over = self._train(job, keeper, run)
        finally:
            keeper.finish()
        if over:
            run.remove()
        if keeper.revoked:
            raise TokenRefused("the server refused this worker's token (revoked while it held a job)")

    def _train(self, job: Claim, keeper: TrainingLease, run: LocalRun) -> bool:
        """Fetch, train and deliver; whether the run is over for this worker (its files may go)."""
        pace = TrainingPace()
        started = time.monotonic()
        try:
            run.fetch(self.client, self.stopping.is_set)
            training.make(run.training, run.storage, pace.around(keeper.progress), keeper.entered,
                          lambda: keeper.should_stop() or self.stopping.is_set(), keeper.live.hand_sample)
            keeper.send_live_view()  # the last loss lines, before the result
            package = run.pack()
        except (TokenRefused, Paused):
            raise
        except (TrainingCancelled, queue.LeaseLost, Unavailable):
            self._stopped(job, keeper)
            return False
        except UngatedError as err:  # the dataset or the setup is wrong: another try will not help
            self._fail(job, "invalid_request", str(err), retry=False)
            return True
        except Exception as err:  # out of memory, a bug, a dropped download: worth another attempt, from here
            log.exception("%s failed", job.id)
            self._fail(job, "training_failed", f"{type(err).__name__}: {err}", retry=True)
            return False
        return self._deliver(job, keeper, package, pace.seconds_per_step(),
                             time.monotonic() - started) in ("completed", "refused")

    def _input(self, job: Claim, name: str, stored: str, folder: Path) -> Path:
        url = job.inputs.get(name)
        if url is None:
            raise InvalidRequest(name, "the server named an input it offers no way to fetch")
        suffix = Path(str(stored)).suffix
        return self._fetch(job, url, folder / f"{name}{suffix if _SUFFIX.fullmatch(suffix) else ''}")

    def _loras(self, job: Claim, named: list, folder: Path) -> list[dict]:
        urls = {lora.get("name"): lora.get("url") for lora in job.loras}
        files = []
        for index, item in enumerate(named):
            url = urls.get(item.get("name")) if isinstance(item, dict) else None
            if url is None:
                raise InvalidRequest(f"loras.{index}", "the server named a LoRA it offers no way to fetch")
            path = self._fetch(job, url, folder / "loras" / f"{index}.safetensors")
            files.append({"path": path, **({"weight": item["weight"]} if "weight" in item else {})})
        return files

    def _fetch(self, job: Claim, url: str, path: Path) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.client.call("GET", url, params={"lease_token": job.lease_token}, give_up=self.stopping.is_set, sink=path)
        return path

    def _preview(self, keeper: RemoteLease, frame, folder: Path) -> None:
        path = folder / "preview.jpg"
        save_preview(frame, path)
        keeper.hand_preview(path.read_bytes())

    def _deliver(self, job: Claim, keeper: RemoteLease, result: Path, seconds_per_step: float | None,
                 run_seconds: float) -> str:
        """Upload the result (a clip, a training run's zip) and complete the job, with the time it took
        here (the member's quota counts it); the keeper renews the lease meanwhile. Returns how it
        ended: completed, refused, stopped or failed."""
        try:
            digest = self._upload(job, result)
            self.client.call("POST", f"/api/worker/jobs/{job.id}/complete", give_up=self.stopping.is_set,
                             json={"lease_token": job.lease_token, "sha256": digest, "size": result.stat().st_size,
                                   "seconds_per_step": seconds_per_step, "run_seconds": round(run_seconds, 3)})
        except (TokenRefused, Paused):
            raise
        except ResultRefused as refused:
            log.warning("%s: the server refused the result: %s (it goes back to the queue)", job.id, refused)
            return "refused"
        except (queue.LeaseLost, Unavailable):
            self._stopped(job, keeper)
            return "stopped"
        except ServerSaid as err:
            log.warning("%s: could not deliver the result: %s", job.id, err)
            self._fail(job, "upload_failed", str(err), retry=True)
            return "failed"
        log.info("%s: completed", job.id)
        return "completed"

    def _upload(self, job: Claim, result: Path) -> str:
        """Send the result in chunks, each from what the server already has: after a dropped
        connection the server says how much it received and the upload goes on from there."""
        where, lease = f"/api/worker/jobs/{job.id}/result", {"lease_token": job.lease_token}
        size, offset, dropped = result.stat().st_size, 0, 0
        backoff = outages.Backoff(first=1.0, most=OUTAGE_MOST_SECONDS)
        with result.open("rb") as file:
            while offset < size:
                file.seek(offset)
                chunk = file.read(CHUNK_BYTES)
                try:
                    self.client.call("PUT", where, give_up=self.stopping.is_set, resend=False, content=chunk,
                                     params={**lease, "offset": offset},
                                     headers={"Content-Type": "application/octet-stream"})
                    offset += len(chunk)
                    dropped = 0
                    backoff.reset()
                    continue
                except OffsetMismatch as mismatch:
                    offset = mismatch.received
                except Unavailable as err:
                    dropped += 1
                    if dropped >= UPLOAD_TRIES or self.stopping.is_set():
                        raise
                    pause = backoff.pause()
                    log.warning("%s: upload interrupted at %d of %d bytes (%s); resuming in %.2g s",
                                job.id, offset, size, err, pause)
                    self.client.sleep(pause)
                    offset = int(self.client.call("GET", where, params=lease, give_up=self.stopping.is_set)
                                 .json()["received"])
                if offset > size:
                    raise ServerSaid(f"the server holds {offset} bytes of a {size}-byte result")
        return _sha256(result)

    def _stopped(self, job: Claim, keeper: RemoteLease) -> None:
        """A job stopped between steps: handed back (the worker is going away), cancelled, or no
        longer ours (dropped: the server has already moved on)."""
        if keeper.lost:
            log.info("%s: dropped (no longer this worker's)", job.id)
        elif self.stopping.is_set():
            self._release(job)
        elif keeper.cancelled:
            self._fail(job, "cancelled", "cancelled", retry=False)
        else:
            log.info("%s: dropped", job.id)

    def _release(self, job: Claim) -> None:
        deadline = time.monotonic() + RELEASE_PATIENCE_SECONDS
        try:
            self.client.call("POST", f"/api/worker/jobs/{job.id}/release", json={"lease_token": job.lease_token},
                             give_up=lambda: time.monotonic() > deadline)
            log.info("%s: handed back", job.id)
        except (ServerSaid, queue.LeaseLost, Unavailable) as err:  # its lease runs out, and the server requeues it
            log.warning("%s: could not hand it back (%s)", job.id, err)

    def _fail(self, job: Claim, code: str, message: str, retry: bool) -> None:
        try:
            answer = self.client.call("POST", f"/api/worker/jobs/{job.id}/fail", give_up=self.stopping.is_set,
                                      json={"lease_token": job.lease_token, "code": code, "message": message,
                                            "retry": retry})
        except TokenRefused:
            raise
        except (ServerSaid, queue.LeaseLost, Unavailable) as err:
            log.warning("%s: could not report %s (%s)", job.id, code, err)
            return
        log.info("%s: %s -> %s", job.id, message, _body(answer).get("status"))


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as file:
        while block := file.read(1024 * 1024):
            digest.update(block)
    return digest.hexdigest()
