"""Accepting a clip a remote worker made (api/workers.py): the server keeps the trust. The bytes
must be the ones the worker hashed; the MP4 must decode whole, at the job's planned size, frame
count and frame rate, and carry the job's invisible watermark (unless the artist turned it off,
or its frames are too small to carry one). Only then does the server draw its thumbnail and
spritesheet and sign it with its own C2PA key, which never leaves the server, and move it into
place as the attempt's clip."""

from __future__ import annotations

import hashlib
from pathlib import Path

from ..engines.base import Engine
from ..media.pipeline import placed_together
from ..media.previews import PreviewCollector
from ..provenance import c2pa_manifest, credentials, watermark
from ..request import Plan, plan
from . import queue
from .schema import Training, Video
from .storage import Storage
from .worker import job_request

MAX_RESULT_BYTES = 2 * 2**30


class Refused(Exception):
    """A result that fails a check; the message says which, in words for the worker's owner."""


def upload_path(storage: Storage, job_id: str, lease_token: str) -> Path:
    """Where one attempt's upload collects: a hidden .part file in the job's folder (a video's, where
    remove_leftovers clears old ones, or a training run's)."""
    folder = storage.root / ("trainings" if queue.table_of(job_id) is Training else "videos") / job_id
    folder.mkdir(parents=True, exist_ok=True)
    return folder / f".upload-{lease_token}.part"


def check_upload(part: Path, sha256: str, size: int) -> None:
    """Refused unless the upload at part is the size and SHA-256 the worker says it sent."""
    received = part.stat().st_size if part.is_file() else 0
    if received != size:
        raise Refused(f"the server received {received} bytes; the worker said the result has {size}")
    if _sha256(part) != sha256.lower():
        raise Refused("the upload's SHA-256 does not match")


def planned(storage: Storage, engine: Engine, video: Video) -> Plan:
    """The job's plan, made as its worker makes it; its LoRAs change no size or length, so they are
    left out."""
    request = job_request(video.request, video.seed, lambda _name, stored: storage.resolve(stored),
                          lambda _loras: [])
    return plan(request, engine.capabilities, engine.id)


def accept(storage: Storage, engine: Engine, video: Video, part: Path, sha256: str, size: int) -> Path:
    """Check the upload at part and make it the attempt's clip (with thumbnail and spritesheet,
    signed); returns the clip's path. Raises Refused naming the first check it fails; the part file
    is left for the caller to remove."""
    # 1. The bytes are the ones the worker made.
    check_upload(part, sha256, size)

    # 2. It is the clip this job makes: decoded whole, at the planned size, length and rate.
    the_plan = planned(storage, engine, video)
    previews = PreviewCollector(the_plan.total_frames)
    width, height, frames, fps = _decode(part, previews)
    if f"{width}x{height}" != video.size:
        raise Refused(f"the clip is {width}x{height}; this job makes {video.size}")
    if frames != the_plan.total_frames:
        raise Refused(f"the clip has {frames} frames; this job makes {the_plan.total_frames}")
    if fps is None or abs(fps - the_plan.fps) > 0.01:
        raise Refused(f"the clip plays at {fps or 0:g} fps; this job makes {the_plan.fps}")
    if the_plan.request.provenance.watermark and watermark.markable(width, height):
        found = watermark.detect(part)
        if found.mark != watermark.mark_id(video.id):
            raise Refused("the clip does not carry this job's watermark")

    # 3. The server's own files: previews, then its signature, then the final names at once.
    clip = storage.clip_path(video.id, video.lease_token)
    with placed_together(clip) as temp:
        previews.save_thumbnail(temp.thumbnail)
        previews.save_spritesheet(temp.spritesheet)
        part.replace(temp.video)
        about = c2pa_manifest.Authorship(model=engine.id, artist=video.artist, video_id=video.id,
                                         prompt=None if video.prompt_private else video.prompt,
                                         seed=None if video.prompt_private else video.seed)
        c2pa_manifest.sign(temp.video, about, credentials.load(), title=clip.name)
    return clip


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as file:
        while chunk := file.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def _decode(path: Path, previews: PreviewCollector) -> tuple[int, int, int, float | None]:
    """(width, height, frames, fps) of the MP4's video, every frame decoded (and the preview
    frames collected); Refused when it does not decode."""
    import av

    width = height = frames = 0
    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                raise Refused("the upload has no video stream")
            stream = container.streams.video[0]
            rate = stream.average_rate or stream.guessed_rate
            for frame in container.decode(stream):
                if frames == 0:
                    width, height = frame.width, frame.height
                elif (frame.width, frame.height) != (width, height):
                    raise Refused("the clip changes size part way through")
                previews.add(frames, frame.to_ndarray(format="rgb24"))
                frames += 1
    except (av.error.FFmpegError, ValueError, IndexError):
        raise Refused("the upload is not a video that decodes") from None
    if frames == 0:
        raise Refused("the upload is not a video that decodes")
    return width, height, frames, float(rate) if rate else None
