"""What the APIs do, independent of their wire formats: check a request against its model and
queue its clips, find, list and delete videos. Both /v1 (OpenAI's shapes) and /api use it."""

from __future__ import annotations

import io
import shutil
from pathlib import Path
import time
from dataclasses import dataclass, field, replace

from PIL import Image, UnidentifiedImageError
from sqlalchemy import select, tuple_

from ..engines.base import Engine
from ..errors import InvalidRequest
from ..jobs import queue, trained
from ..jobs.schema import Favourite, Profile, Video, Worker
from ..jobs.storage import Storage
from ..jobs.store import Store
from ..request import INPUT_FIELDS, Plan, Request, plan
from .errors import ApiError, not_found

MAX_IMAGE_BYTES = 20 * 1024 * 1024
MAX_VIDEO_BYTES = 60 * 1024 * 1024
MAX_LORA_BYTES = 1024 * 1024 * 1024  # a rank-64 LoRA of a 14B model is a few hundred MB
MAX_DATASET_BYTES = 2 * 1024 * 1024 * 1024  # one file of a dataset, or a zip of a whole one


@dataclass
class ServiceConfig:
    models: list[str] = field(default_factory=lambda: ["builtin"])  # served by this server's own workers
    # OpenAI's model names -> the ungated model that answers them (config.toml [openai] section).
    aliases: dict[str, str] = field(default_factory=lambda: {"sora-2": "builtin", "sora-2-pro": "builtin"})
    public: bool = False  # creating needs an API key (see access.py)
    own_workers: bool = True  # this server runs workers for `models` (serve --workers 0: only workers elsewhere)
    # Models asked for that this server's own workers cannot run, and why (their weights are not here).
    unavailable: dict[str, str] = field(default_factory=dict)


class Studio:
    def __init__(self, store: Store, storage: Storage, config: ServiceConfig):
        self.store, self.storage, self.config = store, storage, config
        self._engines: dict[str, Engine] = {}

    def engine(self, model_id: str) -> Engine:
        """The model's engine, for its capabilities only: the API process never loads weights."""
        key = trained.cache_key(model_id, self.storage)
        if key not in self._engines:
            self._engines[key] = trained.engine(model_id, self.storage)
        return self._engines[key]

    def model_ids(self) -> list[str]:
        """Every model a request may name: the catalog's and the built-in models trained here."""
        return trained.all_ids(self.storage)

    def served_models(self) -> set[str]:
        """The models some worker serves; a worker serving `builtin` serves the trained ones too."""
        seen = time.time() - queue.WORKER_GONE_SECONDS
        with self.store.read() as session:
            workers = session.scalars(select(Worker).where(Worker.seen_at > seen)).all()
        served = set(self.config.models).union(*(worker.models for worker in workers))
        return served | set(trained.ids(self.storage)) if "builtin" in served else served

    def model_for(self, name: str | None) -> str:
        """The ungated model id for what a client named (an ungated id or an OpenAI alias)."""
        model_id = self.config.aliases.get(name or "sora-2", name or "")
        if model_id not in self.model_ids():
            raise InvalidRequest("model", f"unknown model {name!r}; choose one of: "
                                          f"{', '.join([*self.config.aliases, *sorted(self.served_models())])}")
        served = self.served_models()
        if model_id not in served:
            why = self.config.unavailable.get(model_id, "no worker here serves it")
            raise InvalidRequest("model", f"model {model_id!r} cannot be made here now: {why}; served: "
                                          f"{', '.join(sorted(served)) or 'none yet'}")
        return model_id

    def save_image(self, data: bytes, param: str) -> str:
        """Check an uploaded image and keep it; returns its path under the storage root."""
        self.check_size(data, MAX_IMAGE_BYTES, param, "image")
        try:
            with Image.open(io.BytesIO(data)) as image:
                image.verify()
                kind = (image.format or "png").lower()
        except (UnidentifiedImageError, OSError, ValueError):
            raise InvalidRequest(param, "not an image PIL can read (use PNG, JPEG or WebP)") from None
        return self._keep(data, kind)

    def save_video(self, data: bytes, param: str) -> str:
        """Check an uploaded video (it has a video stream PyAV can decode) and keep it."""
        import av

        self.check_size(data, MAX_VIDEO_BYTES, param, "video")
        try:
            with av.open(io.BytesIO(data)) as container:
                if not container.streams.video:
                    raise InvalidRequest(param, "the file has no video stream")
                next(container.decode(video=0))
        except (av.error.FFmpegError, StopIteration, ValueError):
            raise InvalidRequest(param, "not a video FFmpeg can read (use MP4, WebM, MOV or GIF)") from None
        return self._keep(data, "video")

    @staticmethod
    def check_size(data: bytes, limit: int, param: str, what: str) -> None:
        if len(data) > limit:
            raise ApiError(413, f"{param}: the {what} is over {limit // 2**20} MB", param, "too_large")

    def _keep(self, data: bytes, suffix: str) -> str:
        path = self.storage.input_path(f"{queue.new_id('input_')}.{suffix}")
        path.write_bytes(data)
        return self.storage.relative(path)

    def create(self, fields: dict, client: str, requested_model: str | None, remixed_from: str | None = None,
               artist: str | None = None, public: bool = True, limits: queue.Limits | None = None) -> list[Video]:
        """Validate a request against its model and queue one job per variant. Input files named in
        fields are under the storage root; on a refused request they are removed again. The artist
        defaults to the client's profile."""
        inputs = {name: fields[name] for name in INPUT_FIELDS if fields.get(name)}
        try:
            model_id = self.model_for(requested_model)
            resolved = {name: self.storage.resolve(relative) for name, relative in inputs.items()}
            request = Request.build(**{**fields, **resolved, **self._lora_files(fields)}, model=model_id)
            engine = self.engine(model_id)
            the_plan = plan(request, engine.capabilities, engine.id)
            stored = request.model_dump(mode="json", exclude_none=True, exclude={"seed", "variants", "model"})
            stored |= inputs  # kept relative to the storage root, which workers elsewhere mount
            if request.loras:  # by library name: the worker finds the file under its own mount
                stored["loras"] = [{"name": Path(c.path).stem, "weight": c.weight} for c in request.loras]
            jobs = [
                queue.NewJob(model=model_id, requested_model=requested_model or "sora-2", request=stored,
                             prompt=request.prompt, size=f"{the_plan.out_width}x{the_plan.out_height}",
                             seconds=the_plan.seconds, seed=seed, steps=the_plan.steps, remixed_from=remixed_from)
                for seed in the_plan.seeds
            ]
            artist = self.artist_of(client) if artist is None else artist
            return queue.submit(self.store, jobs, client=client, artist=artist, public=public, limits=limits)
        except queue.OverLimit as err:
            self._remove_inputs(inputs.values())
            raise ApiError(429, str(err), code="rate_limit_exceeded") from None
        except Exception:
            self._remove_inputs(inputs.values())
            raise

    def plan(self, fields: dict, requested_model: str | None) -> Plan:
        """What a request would make, without queueing it (input files are not needed to know)."""
        model_id = self.model_for(requested_model)
        request = Request.build(**{**{k: v for k, v in fields.items() if k not in INPUT_FIELDS},
                                   **self._lora_files(fields)}, model=model_id)
        engine = self.engine(model_id)
        return plan(request, replace(engine.capabilities, image_required=False), engine.id)

    def _lora_files(self, fields: dict) -> dict:
        """{"loras": files} for a request naming library LoRAs, else nothing."""
        return {"loras": self.storage.lora_files(fields["loras"])} if fields.get("loras") else {}

    def provenance_of(self, path: Path) -> dict:
        """The provenance report of a video file, with the records its watermark points to."""
        from ..provenance.verify import verify

        return verify(path, lambda prefix: queue.ids_starting(self.store, prefix)).as_dict()

    def remix(self, source: Video, changes: dict, client: str, limits: queue.Limits | None = None,
              **options) -> list[Video]:
        """New videos from a source's request and seed with some fields changed."""
        changes = dict(changes)
        requested_model = changes.pop("model", None) or source.requested_model
        fields = {**source.request, "seed": source.seed, **changes}
        for name in INPUT_FIELDS:  # the remix keeps its own copy: deleting the source must not break it
            if fields.get(name) and fields[name] == source.request.get(name):
                fields[name] = self.copy_input(self.storage.resolve(fields[name]))
        return self.create(fields, client, requested_model, remixed_from=source.id, limits=limits, **options)

    def copy_input(self, original: Path) -> str:
        """A copy of a stored file as a new input (under the storage root), for a new video to own."""
        copy = self.storage.input_path(f"{queue.new_id('input_')}{original.suffix}")
        shutil.copyfile(original, copy)
        return self.storage.relative(copy)

    def clip(self, video_id: str) -> tuple[Video, Path]:
        """A finished video and its MP4, or the 404 a client gets for a video not made (yet)."""
        video = self.get(video_id)
        if video.status != queue.COMPLETED or not video.result:
            raise ApiError(404, f"video {video_id!r} has no content: it is {video.status}", "video_id", "not_ready")
        return video, self.storage.resolve(video.result)

    def _remove_inputs(self, relatives) -> None:
        for relative in relatives:
            self.storage.resolve(relative).unlink(missing_ok=True)

    def get(self, video_id: str) -> Video:
        with self.store.read() as session:
            video = session.get(Video, video_id)
        if video is None:
            raise not_found("video", video_id)
        return video

    def outlook(self, video: Video) -> queue.Outlook:
        with self.store.read() as session:
            return self.outlooks(session, [video])[video.id]

    def outlooks(self, session, videos: list[Video]) -> dict[str, queue.Outlook]:
        """Where each video stands; no ETA for one that no worker is serving (nor this server's
        own workers, which may still be starting), since nobody can say when one will join."""
        found = queue.outlooks(session, videos)
        for video in videos:
            seen = found[video.id]
            expected = self.config.own_workers and queue.pool(video.model) in self.config.models
            if seen.workers == 0 and video.status == queue.QUEUED and not expected:
                found[video.id] = replace(seen, eta_seconds=None)
        return found

    def page(self, after: str | None, limit: int, order: str = "desc", *conditions) -> tuple[list[Video], bool]:
        """One page of the videos meeting conditions, newest (or oldest) first, after the video
        with id `after`; and whether there are more."""
        newest_first = order == "desc"
        ordering = (Video.created_at.desc(), Video.id.desc()) if newest_first else (Video.created_at, Video.id)
        query = select(Video).where(*conditions).order_by(*ordering).limit(limit + 1)
        if after:
            anchor = self.get(after)
            position, mark = tuple_(Video.created_at, Video.id), tuple_(anchor.created_at, anchor.id)
            query = query.where(position < mark if newest_first else position > mark)
        with self.store.read() as session:
            rows = list(session.scalars(query))
        return rows[:limit], len(rows) > limit

    @staticmethod
    def in_feed():
        return (Video.public.is_(True), Video.status == queue.COMPLETED)

    @staticmethod
    def owned_by(client: str):
        return (Video.client == client,)

    @staticmethod
    def favourites_of(client: str):
        return (Video.id.in_(select(Favourite.video_id).where(Favourite.client == client)),)

    def favourite_ids(self, client: str | None, videos: list[Video]) -> set[str]:
        """Which of videos the client has marked as a favourite."""
        if client is None or not videos:
            return set()
        with self.store.read() as session:
            return set(session.scalars(select(Favourite.video_id).where(
                Favourite.client == client, Favourite.video_id.in_([video.id for video in videos]))))

    def set_favourite(self, client: str, video_id: str, on: bool) -> None:
        self.get(video_id)
        with self.store.write() as session:
            row = session.get(Favourite, (client, video_id))
            if on and row is None:
                session.add(Favourite(client=client, video_id=video_id, created_at=time.time()))
            elif not on and row is not None:
                session.delete(row)

    def artist_of(self, client: str) -> str:
        with self.store.read() as session:
            profile = session.get(Profile, client)
        return profile.artist if profile else ""

    def set_artist(self, client: str, artist: str) -> None:
        with self.store.write() as session:
            session.merge(Profile(client=client, artist=artist))

    def update(self, video_id: str, public: bool | None = None, artist: str | None = None) -> Video:
        with self.store.write() as session:
            video = session.get(Video, video_id)
            if video is None:
                raise not_found("video", video_id)
            if public is not None:
                video.public = public
            if artist is not None:
                video.artist = artist
        return video

    def delete(self, video_id: str) -> None:
        """Delete a video and its files; a running job is told to stop and its result is dropped."""
        queue.cancel(self.store, video_id)
        with self.store.write() as session:
            video = session.get(Video, video_id)
            if video is None:
                raise not_found("video", video_id)
            inputs = [video.request[name] for name in INPUT_FIELDS if video.request.get(name)]
            session.delete(video)
        self.storage.remove_video(video_id)
        for relative in inputs:
            self.storage.resolve(relative).unlink(missing_ok=True)

