"""What the APIs do, independent of their wire formats: check a request against its model and
queue its clips, find, list and delete videos. Both /v1 (OpenAI's shapes) and /api use it."""

from __future__ import annotations

import io
import shutil
import tempfile
import threading
import time
from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass, field, replace
from pathlib import Path

from PIL import Image
from sqlalchemy import event, select, tuple_
from sqlalchemy.orm import Session

from ..engines.base import Engine
from ..errors import InvalidRequest
from ..jobs import moderation, queue, trained
from ..jobs.quotas import Quota
from ..jobs.schema import Favourite, Profile, Video, Worker
from ..jobs.storage import Storage
from ..jobs.store import Store
from ..media.inputs import MAX_PIXELS, too_many_pixels
from ..request import INPUT_FIELDS, Plan, Request, plan
from .characters_service import cast
from .errors import ApiError, not_found, over_limit

# What a prompt kept private keeps to its artist: the words and the characters they name.
PRIVATE_FIELDS = ("prompt", "negative_prompt", "characters")

MAX_IMAGE_BYTES = 20 * 1024 * 1024
MAX_VIDEO_BYTES = 60 * 1024 * 1024
MAX_LORA_BYTES = 1024 * 1024 * 1024  # a rank-64 LoRA of a 14B model is a few hundred MB
MAX_DATASET_BYTES = 2 * 1024 * 1024 * 1024  # one file of a dataset, or a zip of a whole one


def removed(video_id: str, param: str = "video_id") -> ApiError:
    """The answer for a clip the moderators removed, to whoever may not see it (api/moderation.py)."""
    return ApiError(410, f"video {video_id!r} has been removed by the server's moderators", param, "removed")


@dataclass(frozen=True)
class NewInput:
    """An input file a request brings: an upload checked in memory, or a stored file to copy (a
    remix or an extension owns its own copy). Written under inputs/ only once the request is accepted."""

    suffix: str  # of the file it becomes: ".png", ".video", ...
    data: bytes | None = None
    source: Path | None = None

    @classmethod
    def copy_of(cls, source: Path) -> "NewInput":
        return cls(source.suffix, source=source)


@dataclass
class ServiceConfig:
    models: list[str] = field(default_factory=lambda: ["builtin"])  # served by this server's own workers
    # OpenAI's model names -> the ungated model that answers them (config.toml [openai] section).
    aliases: dict[str, str] = field(default_factory=lambda: {"sora-2": "builtin", "sora-2-pro": "builtin"})
    public: bool = False  # creating needs an API key (see access.py)
    own_workers: bool = True  # this server runs workers for `models` (serve --workers 0: only workers elsewhere)
    # Models asked for that this server's own workers cannot run, and why (their weights are not here).
    unavailable: dict[str, str] = field(default_factory=dict)
    fetch_image_urls: bool = False  # /v1 may fetch an input_reference image_url from another server (settings.py)
    # A community server (config.toml [community]): anyone may sign up, or only by invite; members' daily quota.
    open_signup: bool = False
    quota: Quota = field(default_factory=Quota)


@dataclass(frozen=True)
class Checked:
    """A request checked against its model (Studio.check), its input files not yet written."""

    fields: dict
    inputs: dict[str, NewInput]
    model_id: str
    requested_model: str | None
    videos: int  # one per variant
    public: bool


# Set while the server answers a remote worker's call (api/workers.py): what it writes is no
# client's own doing, so no poll need wait for a read after it; it shows within one read's tick,
# as what `serve --workers N` and the CLI write in their own processes does.
WORKER_CALL: ContextVar[bool] = ContextVar("ungated_worker_call", default=False)


class Writes:
    """Counts the commits, made in this process for clients (not WORKER_CALL's), that may change
    what a video's status shows (its row, its favourites, the model's measured speed, the set of
    live workers). A status read after the count was N has seen every such commit counted in N
    (events.VideoView keys its reads by it), so a client always sees its own writes."""

    TABLES = frozenset({"videos", "trainings", "favourites", "model_stats", "queue_pauses"})
    ROWS_ONLY = frozenset({"workers"})  # a worker joining or leaving counts; one seen again does not

    def __init__(self) -> None:
        self.count = 0
        self._lock = threading.Lock()
        event.listen(Session, "do_orm_execute", self._executed)
        event.listen(Session, "after_flush", self._flushed)
        event.listen(Session, "after_commit", self._committed)

    def _executed(self, state) -> None:
        if WORKER_CALL.get():
            return
        table = getattr(state.statement, "table", None)
        name = getattr(table, "name", None)
        if name in self.TABLES or (name in self.ROWS_ONLY and not state.is_update):
            if state.is_insert or state.is_update or state.is_delete:
                state.session.info["ungated_wrote"] = True

    def _flushed(self, session: Session, _context) -> None:
        if WORKER_CALL.get():
            return
        changed = [*session.new, *session.deleted]
        changed += [row for row in session.dirty if row.__tablename__ not in self.ROWS_ONLY]
        if any(row.__tablename__ in self.TABLES | self.ROWS_ONLY for row in changed):
            session.info["ungated_wrote"] = True

    def _committed(self, session: Session) -> None:
        if session.info.pop("ungated_wrote", False):
            with self._lock:
                self.count += 1


WRITES = Writes()

# The request fields that ask a model for a directing verb (Capabilities.verbs), in the order they
# are checked; a blend's `extend` is its first clip, so a blend asks for "blend" alone.
VERB_FIELDS = (("blend_into", "blend"), ("extend_at", "recut"), ("extend", "extend"), ("follows", "continue"),
               ("video", "edit"))
VERB_WORDS = {"extend": "continue clips", "recut": "re-cut clips (continue them from a chosen second)",
              "continue": "continue clips", "edit": "edit clips by prompt (it takes no input video)",
              "blend": "make blends", "characters": "use characters"}


class Studio:
    def __init__(self, store: Store, storage: Storage, config: ServiceConfig):
        self.store, self.storage, self.config = store, storage, config
        self._engines: dict[str, Engine] = {}
        self.on_queued: Callable[[], None] = lambda: None  # the remote workers' claims listen (api/workers.py)

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

    def check_verb(self, verb: str, model_id: str, param: str) -> None:
        """Refuse a model whose capabilities lack a directing verb (Capabilities.verbs), naming the
        field that asked for it and the served models that can."""
        if self.engine(model_id).capabilities.verbs()[verb]:
            return
        known = set(self.model_ids())
        able = sorted(m for m in self.served_models() & known if self.engine(m).capabilities.verbs()[verb])
        which = f"models here that can: {', '.join(able)}" if able else "no model served here can"
        raise InvalidRequest(param, f"model {model_id} does not {VERB_WORDS[verb]}; {which}")

    def _check_verbs(self, fields: dict, inputs: dict[str, NewInput], model_id: str) -> None:
        given = set(inputs) | {name for name, value in fields.items() if value is not None}
        if "blend_into" in given:
            given.discard("extend")
        for name, verb in VERB_FIELDS:
            if name in given:
                self.check_verb(verb, model_id, name)

    def check_image(self, data: bytes, param: str) -> NewInput:
        """An uploaded image, checked in memory: one PIL reads, of at most MAX_PIXELS."""
        self.check_size(data, MAX_IMAGE_BYTES, param, "image")
        try:
            with Image.open(io.BytesIO(data)) as image:
                (width, height), kind = image.size, (image.format or "png").lower()
                if width * height <= MAX_PIXELS:
                    image.verify()
        except Image.DecompressionBombError:
            raise InvalidRequest(param, too_many_pixels("image")) from None
        except Exception:  # a decoder fed hostile bytes raises all sorts: OSError, SyntaxError, struct.error, ...
            raise InvalidRequest(param, "not an image PIL can read (use PNG, JPEG or WebP)") from None
        if width * height > MAX_PIXELS:
            raise InvalidRequest(param, too_many_pixels("image", width, height))
        return NewInput(f".{kind}", data=data)

    def check_video(self, data: bytes, param: str) -> NewInput:
        """An uploaded video, checked in memory: a video stream PyAV decodes, of at most MAX_PIXELS a frame."""
        import av

        self.check_size(data, MAX_VIDEO_BYTES, param, "video")
        try:
            with av.open(io.BytesIO(data)) as container:
                if not container.streams.video:
                    raise InvalidRequest(param, "the file has no video stream")
                codec = container.streams.video[0].codec_context
                if codec.width * codec.height > MAX_PIXELS:
                    raise InvalidRequest(param, too_many_pixels("video", codec.width, codec.height))
                next(container.decode(video=0))
        except (av.error.FFmpegError, StopIteration, ValueError, OSError):
            raise InvalidRequest(param, "not a video FFmpeg can read (use MP4, WebM, MOV or GIF)") from None
        return NewInput(".video", data=data)

    @staticmethod
    def check_size(data: bytes, limit: int, param: str, what: str) -> None:
        if len(data) > limit:
            raise ApiError(413, f"{param}: the {what} is over {limit // 2**20} MB", param, "too_large")

    def create(self, fields: dict, client: str, requested_model: str | None, inputs: dict[str, NewInput] | None = None,
               remixed_from: str | None = None, artist: str | None = None, public: bool | None = None,
               limits: queue.Limits | None = None) -> list[Video]:
        """Check a request against its model and the client's limits, then write its input files
        and queue one job per variant. Nothing is written for a refused request; the files of one
        whose queueing fails after all (a limit reached by a request in between) are removed again.
        The artist defaults to the client's profile."""
        checked = self.check(fields, client, requested_model, inputs, public)
        return self.queue_checked([checked], client, artist, limits, remixed_from)

    def check(self, fields: dict, client: str, requested_model: str | None,
              inputs: dict[str, NewInput] | None = None, public: bool | None = None) -> Checked:
        """Everything about a request that is checked before a file is written: the verbs asked of
        the model, the characters named (as saved objects, or an image), and the request with
        uploads still in memory."""
        inputs = inputs or {}
        fields = {name: value for name, value in fields.items() if name not in INPUT_FIELDS}  # files come as inputs
        model_id = self.model_for(requested_model)
        engine = self.engine(model_id)
        self._check_verbs(fields, inputs, model_id)
        fields, inputs = cast(self, fields, inputs, client, model_id)
        the_plan = self._checked_plan(fields, inputs, model_id, engine)
        if public is None:  # a prompt kept private keeps its video out of the feed unless asked
            public = the_plan.request.provenance.publish_prompt
        return Checked(fields, inputs, model_id, requested_model, len(the_plan.seeds), public)

    def queue_checked(self, requests: list[Checked], client: str, artist: str | None = None,
                      limits: queue.Limits | None = None, remixed_from: str | None = None) -> list[Video]:
        """Queue checked requests as one group (one batch id, in order): the client's limits are
        checked for them all, then their inputs written and their jobs queued; the queue checks the
        limits again in the transaction that queues, so parallel requests cannot slip past them.
        On any refusal nothing stays queued and the files written are removed again."""
        if limits is not None:
            self._check_limits(client, sum(checked.videos for checked in requests), limits)
        written: list[str] = []
        try:
            jobs = []
            for checked in requests:
                files = self._write_inputs(checked.inputs)
                written += files.values()
                jobs += self._jobs(checked, files, remixed_from)
            artist = self.artist_of(client) if artist is None else artist
            queued = queue.submit(self.store, jobs, client=client, artist=artist, limits=limits)
            self.on_queued()
            return queued
        except queue.OverLimit as err:
            self._remove_inputs(written)
            raise over_limit(err) from None
        except BaseException:
            self._remove_inputs(written)
            raise

    def _jobs(self, checked: Checked, written: dict[str, str], remixed_from: str | None) -> list[queue.NewJob]:
        """The jobs of a checked request whose inputs are written (`written`: their stored paths)."""
        engine = self.engine(checked.model_id)
        resolved = {name: self.storage.resolve(relative) for name, relative in written.items()}
        request = Request.build(**{**checked.fields, **resolved, **self._lora_files(checked.fields)},
                                model=checked.model_id)
        the_plan = plan(request, engine.capabilities, engine.id)
        # loop only when asked: the stored requests of others stay as workers of older versions read them
        stored = request.model_dump(mode="json", exclude_none=True, exclude={
            "seed", "variants", "model", *(() if request.loop else ("loop",)),
            *(() if request.characters else ("characters",))})
        stored |= written  # kept relative to the storage root, which workers elsewhere mount
        if request.loras:  # by library name: the worker finds the file under its own mount
            stored["loras"] = [{"name": Path(c.path).stem, "weight": c.weight} for c in request.loras]
        return [queue.NewJob(model=checked.model_id, requested_model=checked.requested_model or "sora-2",
                             request=stored, prompt=request.prompt, size=f"{the_plan.out_width}x{the_plan.out_height}",
                             seconds=the_plan.seconds, seed=seed, steps=the_plan.steps, remixed_from=remixed_from,
                             public=checked.public)
                for seed in the_plan.seeds]

    def _checked_plan(self, fields: dict, inputs: dict[str, NewInput], model_id: str, engine: Engine) -> Plan:
        """The plan of a request as it would be queued, its inputs not yet written: a stored file to
        copy stands for itself, an uploaded image for a name never opened. (An uploaded clip is
        checked once written: its length needs the file.)"""
        sources = {}
        for name, new in inputs.items():
            if new.source is not None and not new.source.is_file():
                raise InvalidRequest(name, "the source video's file is gone from the server; make a new video")
            if new.source is not None:
                sources[name] = new.source
        request = Request.build(**{**fields, **sources, **self._lora_files(fields)}, model=model_id)
        uploads = {name: Path(f"<uploaded {name}>") for name, new in inputs.items()
                   if new.data is not None and name == "image"}
        return plan(request.model_copy(update=uploads), engine.capabilities, engine.id)

    def _check_limits(self, client: str, wanted: int, limits: queue.Limits) -> None:
        with self.store.read() as session:
            try:
                queue.check_limits(session, client, wanted, limits, time.time())
            except queue.OverLimit as err:
                raise over_limit(err) from None

    def _write_inputs(self, inputs: dict[str, NewInput]) -> dict[str, str]:
        """Each input written under inputs/, as {field: its path under the storage root}."""
        written: dict[str, str] = {}
        try:
            for name, new in inputs.items():
                path = self.storage.input_path(f"{queue.new_id('input_')}{new.suffix}")
                written[name] = self.storage.relative(path)
                if new.source is not None:
                    shutil.copyfile(new.source, path)
                else:
                    path.write_bytes(new.data)
        except BaseException:
            self._remove_inputs(written.values())
            raise
        return written

    def plan(self, fields: dict, requested_model: str | None) -> Plan:
        """What a request would make, without queueing it (input files are not needed to know)."""
        model_id = self.model_for(requested_model)
        # Characters (by name, until a request is made) change nothing a plan says.
        request = Request.build(**{**{k: v for k, v in fields.items() if k not in (*INPUT_FIELDS, "characters")},
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

    def made_here(self, data: bytes) -> Video | None:
        """The finished video an uploaded clip is, when this server made it and still has it: the
        video its C2PA manifest names (a signature that validates), else the one its watermark
        points to (a clip re-encoded, or its manifest stripped). None for any other clip."""
        import av

        from ..provenance import c2pa_manifest, watermark

        with tempfile.NamedTemporaryFile(suffix=".mp4") as upload:
            upload.write(data)
            upload.flush()
            path = Path(upload.name)
            manifest = c2pa_manifest.read(path)
            if manifest.state in ("Valid", "Trusted") and manifest.video_id:
                candidates = [manifest.video_id]
            else:
                try:
                    mark = watermark.detect(path).mark
                except (av.error.FFmpegError, IndexError, ValueError):
                    mark = None
                candidates = [] if mark is None else queue.ids_starting(self.store, watermark.id_prefix(mark))
        if len(candidates) != 1:  # a watermark's 32 bits of an id may begin more than one
            return None
        with self.store.read() as session:
            video = session.get(Video, candidates[0])
        if video is None or video.status != queue.COMPLETED or not video.result:
            return None
        return video if self.storage.resolve(video.result).is_file() else None

    def finished(self, video_id: str, param: str) -> tuple[Video, Path]:
        """A video a new one is made from, and its clip: 404 for none, 409 for one not finished
        (each naming `param`, the field that named it)."""
        with self.store.read() as session:
            video = session.get(Video, video_id)
        if video is None:
            raise not_found("video", video_id, param)
        self.check_source(video, param)
        clip = self.storage.resolve(video.result) if video.result else None
        if video.status != queue.COMPLETED or clip is None or not clip.is_file():
            raise ApiError(409, f"video {video_id!r} is {video.status}; only a finished video can be used here",
                           param, "not_ready")
        return video, clip

    def derive(self, source: Video | None, clips: dict[str, NewInput], changes: dict, client: str,
               requested_model: str | None, limits: queue.Limits | None = None, sees_prompt: bool = True,
               **options) -> list[Video]:
        """A new video made from clips (an extension, re-cut, edit or blend; `clips` are its input
        fields). From a source video, it takes the source's request and seed (a private prompt as
        inherited() allows) with the changes given, by the source's model unless another is asked;
        from a clip made elsewhere (no source), only the changes, by the model asked or the default.
        The source's length, cut and loop describe the source, so the new video has its own."""
        fields = self.inherited(source, sees_prompt, changes.get("prompt")) if source is not None else {}
        for name in ("seconds", "extend_at", "loop"):
            fields.pop(name, None)
        fields |= {name: value for name, value in changes.items() if value is not None}
        requested_model = requested_model or (source.requested_model if source is not None else None)
        return self.create(fields, client, requested_model, clips, remixed_from=source.id if source else None,
                           limits=limits, **options)

    def remix(self, source: Video, changes: dict, client: str, limits: queue.Limits | None = None,
              sees_prompt: bool = True, **options) -> list[Video]:
        """New videos from a source's request and seed with some fields changed. Each keeps its own
        copy of the source's input files: deleting the source must not break it."""
        self.check_source(source, "video_id")
        changes = dict(changes)
        requested_model = changes.pop("model", None) or source.requested_model
        fields = {**self.inherited(source, sees_prompt, changes.get("prompt")), **changes}
        inputs = {name: NewInput.copy_of(self.storage.resolve(source.request[name]))
                  for name in INPUT_FIELDS if source.request.get(name)}
        return self.create(fields, client, requested_model, inputs, remixed_from=source.id, limits=limits, **options)

    @staticmethod
    def check_source(video: Video, param: str) -> None:
        """No new clip is made from a removed one (its content is served to no one but moderators,
        and they make nothing from it either): 410 `removed`, naming `param`."""
        if video.moderation == moderation.REMOVED:
            raise removed(video.id, param)

    @staticmethod
    def inherited(source: Video, sees_prompt: bool, prompt: str | None) -> dict:
        """The request fields and seed a new video takes from its source. A prompt the artist keeps
        private (and its seed, and the characters it names) goes only to those who may see it:
        others bring their own prompt."""
        fields = {name: value for name, value in source.request.items()  # not a stitched clip's `storyboard`
                  if name in Request.model_fields and name not in INPUT_FIELDS}
        if not source.prompt_private or sees_prompt:
            return {**fields, "seed": source.seed}
        if not prompt:
            raise InvalidRequest("prompt", "the artist keeps this video's prompt private; give your own prompt")
        return {name: value for name, value in fields.items() if name not in PRIVATE_FIELDS}

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
        """Finished, listed by its artist, and neither hidden nor removed by a moderator."""
        return (Video.public.is_(True), Video.status == queue.COMPLETED, Video.moderation.is_(None))

    @staticmethod
    def owned_by(client: str):
        return (Video.client == client,)

    @staticmethod
    def favourites_of(client: str):
        return (Video.id.in_(select(Favourite.video_id).where(Favourite.client == client)), moderation.not_removed())

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
        """List a video in the feed or not, or change its artist credit. A finished clip is signed
        again naming the new artist before the change is kept, so its manifest and its page agree;
        one whose manifest no longer validates is refused (409) and keeps its credit."""
        from ..errors import UngatedError
        from ..provenance.resign import resign

        with self.store.write() as session:
            video = session.get(Video, video_id)
            if video is None:
                raise not_found("video", video_id)
            if public is not None:
                video.public = public
            if artist is not None and artist != video.artist:
                if video.status == queue.COMPLETED and video.result:
                    try:
                        resign(self.storage.resolve(video.result), artist, ingredient_file=self._clip_of)
                    except UngatedError as err:
                        raise ApiError(409, f"artist: {err}", "artist", "not_signed") from None
                video.artist = artist
        return video

    def _clip_of(self, video_id: str) -> Path | None:
        """The MP4 of a finished video, if it is still here (an ingredient of a clip signed again)."""
        with self.store.read() as session:
            video = session.get(Video, video_id)
        return self.storage.resolve(video.result) if video is not None and video.result else None

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

