"""The store's tables. One row in `videos` is one clip and the job that makes it: a request with
variants becomes one row per variant, sharing a batch id. One row in `trainings` is a training run
(the built-in model or a LoRA) on a dataset. Both are jobs of the same queue (queue.py): their
claim, lease and outcome columns are the same (JobState).

Times are UNIX seconds (floats) from the writer's clock; leases are long enough (LEASE_SECONDS in
queue.py) that machines with NTP agree well within them.
"""

from __future__ import annotations

from sqlalchemy import JSON, BigInteger, Boolean, Float, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    pass


class JobState:
    """What every job in the queue has: who asked, its place in the queue, the claim, progress and
    the outcome."""

    created_at: Mapped[float] = mapped_column(Float)
    # queued -> in_progress -> completed | failed | cancelled (and back to queued on a retry)
    status: Mapped[str] = mapped_column(String(16), default="queued")
    model: Mapped[str] = mapped_column(String(64))  # the ungated model id; only workers serving it take the job
    client: Mapped[str] = mapped_column(String(64), default="local")  # who asked: an API key id or "local"

    # Queue order: priority first, then (videos) the fair-share tag (see queue.submit), then age.
    priority: Mapped[int] = mapped_column(Integer, default=0)
    not_before: Mapped[float] = mapped_column(Float, default=0.0)  # retry back-off

    # The claim: which worker holds it, under which token, until when.
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    worker: Mapped[str | None] = mapped_column(String(120), nullable=True)
    lease_token: Mapped[str | None] = mapped_column(String(40), nullable=True)
    lease_until: Mapped[float | None] = mapped_column(Float, nullable=True)
    cancel_requested: Mapped[bool] = mapped_column(Boolean, default=False)

    # Progress and the outcome.
    progress: Mapped[int] = mapped_column(Integer, default=0)  # percent
    step: Mapped[int] = mapped_column(Integer, default=0)  # in the job's progress units
    started_at: Mapped[float | None] = mapped_column(Float, nullable=True)
    completed_at: Mapped[float | None] = mapped_column(Float, nullable=True)
    result: Mapped[str | None] = mapped_column(String(200), nullable=True)  # a path under the storage root
    error_code: Mapped[str | None] = mapped_column(String(40), nullable=True)
    error_message: Mapped[str | None] = mapped_column(Text, nullable=True)
    # GPU time it took, as its worker reported it (capped by the wall time of its attempt): quotas count it.
    run_seconds: Mapped[float | None] = mapped_column(Float, nullable=True)


class Video(JobState, Base):
    __tablename__ = "videos"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)  # "video_" + 128 random bits
    requested_model: Mapped[str] = mapped_column(String(64))  # as the client named it (e.g. sora-2)
    request: Mapped[dict] = mapped_column(JSON)  # Request fields, inputs as paths under the storage root
    prompt: Mapped[str] = mapped_column(Text)
    size: Mapped[str] = mapped_column(String(16))  # the written size, WIDTHxHEIGHT
    seconds: Mapped[float] = mapped_column(Float)  # the planned length
    seed: Mapped[int] = mapped_column(BigInteger)  # up to 2**32 - 1
    steps: Mapped[int] = mapped_column(Integer)  # sampling steps, for ETAs
    artist: Mapped[str] = mapped_column(String(100), default="")
    batch_id: Mapped[str] = mapped_column(String(40))
    variant: Mapped[int] = mapped_column(Integer, default=0)
    remixed_from: Mapped[str | None] = mapped_column(String(40), nullable=True)
    public: Mapped[bool] = mapped_column(Boolean, default=True)  # in the feed; any video opens by its link
    fair_key: Mapped[int] = mapped_column(Integer, default=0)
    preview_step: Mapped[int] = mapped_column(Integer, default=0)  # the step of the latest preview frame; 0: none
    # Moderation after the fact (jobs/moderation.py): None, "hidden" (out of the feed, its link still
    # plays) or "removed" (served to no one but moderators); the reason is shown to its artist.
    moderation: Mapped[str | None] = mapped_column(String(16), nullable=True)
    moderation_reason: Mapped[str | None] = mapped_column(Text, nullable=True)

    @property
    def prompt_private(self) -> bool:
        """The artist chose to keep the prompt and seed to themselves (`publish_prompt: false`):
        only they (and admins) see them, in the file's manifest and everywhere the server shows it."""
        return (self.request or {}).get("provenance", {}).get("publish_prompt") is False

    __table_args__ = (
        Index("videos_claim", "status", "model", "priority", "fair_key", "created_at"),
        Index("videos_listing", "client", "created_at"),
        Index("videos_created", "created_at"),
        Index("videos_feed", "public", "status", "created_at"),
    )


class Training(JobState, Base):
    """A training run: the built-in model (model "builtin") or a LoRA for an open model, on a
    dataset. Its files (cache, checkpoints, loss log, samples, outputs) are under
    trainings/ID/ in the storage root, so a run handed to another worker resumes from them."""

    __tablename__ = "trainings"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)  # "train_" + 128 random bits
    name: Mapped[str] = mapped_column(String(100))  # what the result is called (the LoRA's library name)
    dataset: Mapped[str] = mapped_column(String(500))  # under the storage root, or a server folder (admins)
    options: Mapped[dict] = mapped_column(JSON)  # the trainer's settings (steps, batch, learning rate, rank ...)
    steps: Mapped[int] = mapped_column(Integer)  # training steps in all
    stage: Mapped[str] = mapped_column(String(16), default="")  # preparing, training or finishing while running

    __table_args__ = (
        Index("trainings_claim", "status", "model", "priority", "created_at"),
        Index("trainings_listing", "client", "created_at"),
    )


class QueuePause(Base):
    """A client who paused their own queue: workers take none of their queued jobs (videos and
    training runs alike) until they resume; the jobs keep their places (jobs/own_queue.py)."""

    __tablename__ = "queue_pauses"

    client: Mapped[str] = mapped_column(String(64), primary_key=True)
    paused_at: Mapped[float] = mapped_column(Float)


class Favourite(Base):
    __tablename__ = "favourites"

    client: Mapped[str] = mapped_column(String(64), primary_key=True)
    video_id: Mapped[str] = mapped_column(String(40), ForeignKey("videos.id", ondelete="CASCADE"), primary_key=True)
    created_at: Mapped[float] = mapped_column(Float)


class Profile(Base):
    """What a client is credited as; the default for the artist name on its videos."""

    __tablename__ = "profiles"

    client: Mapped[str] = mapped_column(String(64), primary_key=True)
    artist: Mapped[str] = mapped_column(String(100), default="")


class ApiKey(Base):
    """A key for a public server. Only a hash of the secret is kept; the secret is shown once."""

    __tablename__ = "api_keys"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)  # "key_" + 48 random bits; the client name
    name: Mapped[str] = mapped_column(String(100))
    # A member's own key (made in the studio): it acts as the member, whose id is then the client.
    member_id: Mapped[str | None] = mapped_column(String(40), nullable=True, index=True)
    secret_hash: Mapped[str] = mapped_column(String(64), unique=True)  # sha256 hex of the whole key
    admin: Mapped[bool] = mapped_column(Boolean, default=False)
    per_minute: Mapped[int] = mapped_column(Integer)  # videos it may ask for per minute
    concurrent: Mapped[int] = mapped_column(Integer)  # of its videos queued or running at once
    created_at: Mapped[float] = mapped_column(Float)
    revoked_at: Mapped[float | None] = mapped_column(Float, nullable=True)


class ModelStats(Base):
    """Measured speed per model, for queue ETAs: a moving average over finished jobs."""

    __tablename__ = "model_stats"

    model: Mapped[str] = mapped_column(String(64), primary_key=True)
    seconds_per_step: Mapped[float] = mapped_column(Float)
    jobs: Mapped[int] = mapped_column(Integer, default=0)


class Worker(Base):
    """A live worker process: what it serves and when it last said so."""

    __tablename__ = "workers"

    id: Mapped[str] = mapped_column(String(120), primary_key=True)  # host:pid:random
    host: Mapped[str] = mapped_column(String(100))
    pid: Mapped[int] = mapped_column(Integer)
    models: Mapped[list] = mapped_column(JSON)
    started_at: Mapped[float] = mapped_column(Float)
    seen_at: Mapped[float] = mapped_column(Float)


class WorkerToken(Base):
    """A token for a remote worker of the community pool (api/workers.py): it may claim jobs for its
    models and report only on its own. Only a hash of the secret is kept; the secret is shown once.
    Its jobs carry the worker id `remote:<token id>:<instance>` in the queue."""

    __tablename__ = "worker_tokens"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)  # "wt_" + 52 random bits
    name: Mapped[str] = mapped_column(String(100), unique=True)
    secret_hash: Mapped[str] = mapped_column(String(64), unique=True)  # sha256 hex of the whole secret
    models: Mapped[list | None] = mapped_column(JSON, nullable=True)  # the models it may serve; None: any
    untrusted: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[float] = mapped_column(Float)
    revoked_at: Mapped[float | None] = mapped_column(Float, nullable=True)
    paused_at: Mapped[float | None] = mapped_column(Float, nullable=True)  # by the server, after refused results
    pause_reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    jobs_done: Mapped[int] = mapped_column(Integer, default=0)
    jobs_failed: Mapped[int] = mapped_column(Integer, default=0)
    results_refused: Mapped[int] = mapped_column(Integer, default=0)
    consecutive_refusals: Mapped[int] = mapped_column(Integer, default=0)
    seconds_per_step: Mapped[float | None] = mapped_column(Float, nullable=True)  # moving average
    last_seen_at: Mapped[float | None] = mapped_column(Float, nullable=True)

    @property
    def state(self) -> str:
        return "revoked" if self.revoked_at else "paused" if self.paused_at else "live"


class Character(Base):
    """A named reference a client keeps and uses by name ("@name") in prompts and storyboard shots:
    an image (a still, or a frame chosen from a clip) and, where the built-in model can tell, the
    object of its world it shows (shape, color, size)."""

    __tablename__ = "characters"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)  # "char_" + 128 random bits
    client: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(40))  # unique per client, compared without case
    image: Mapped[str] = mapped_column(String(200))  # a PNG under the storage root
    object: Mapped[dict | None] = mapped_column(JSON, nullable=True)  # {"shape", "color", "size"}
    source_video: Mapped[str | None] = mapped_column(String(40), nullable=True)
    created_at: Mapped[float] = mapped_column(Float)

    __table_args__ = (Index("characters_by_client", "client", "name", unique=True),)


class Board(Base):
    """A storyboard: shots made in order, each continuing from the one before where its model can,
    stitched into one clip. `shots` is the timeline, in order: [{"id", "prompt", "seconds", "image"
    (a path under the storage root, or absent), "character" (an id, or absent), "video" (the id of
    its current take, or absent)}]. The stitched clip is a video of its own (`result_video`)."""

    __tablename__ = "boards"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)  # "board_" + 128 random bits
    client: Mapped[str] = mapped_column(String(64))
    title: Mapped[str] = mapped_column(String(200), default="")
    model: Mapped[str] = mapped_column(String(64))  # as the client named it
    settings: Mapped[dict] = mapped_column(JSON)  # request fields every shot shares (size, fps, seed, ...)
    shots: Mapped[list] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(16), default="draft")  # draft, making, completed, failed
    error_message: Mapped[str | None] = mapped_column(Text, nullable=True)
    result_video: Mapped[str | None] = mapped_column(String(40), nullable=True)
    stitched_from: Mapped[list | None] = mapped_column(JSON, nullable=True)  # the takes the result is made of
    busy_until: Mapped[float] = mapped_column(Float, default=0.0)  # one server process advances it at a time
    created_at: Mapped[float] = mapped_column(Float)
    updated_at: Mapped[float] = mapped_column(Float)

    __table_args__ = (Index("boards_by_client", "client", "created_at"), Index("boards_status", "status"))


class Member(Base):
    """A person with an account on a community server (jobs/members.py). Their id is the `client`
    of everything they make, whether they come with the session cookie or one of their API keys."""

    __tablename__ = "members"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)  # "mem_" + 64 random bits
    name: Mapped[str] = mapped_column(String(40))  # as they typed it
    name_key: Mapped[str] = mapped_column(String(40), unique=True)  # casefolded: names are unique without case
    password_hash: Mapped[str] = mapped_column(String(200))  # argon2id, with its parameters and salt
    role: Mapped[str] = mapped_column(String(16), default="member")  # member, moderator or admin
    quota: Mapped[dict | None] = mapped_column(JSON, nullable=True)  # per-member overrides of [community]
    invite_id: Mapped[str | None] = mapped_column(String(40), nullable=True)  # the invite they came by
    suspended_at: Mapped[float | None] = mapped_column(Float, nullable=True)
    suspended_reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[float] = mapped_column(Float)


class Invite(Base):
    """A sign-up link: its code is shown once, at creation; only its hash is kept."""

    __tablename__ = "invites"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)  # "inv_" + 48 random bits
    code_hash: Mapped[str] = mapped_column(String(64), unique=True)
    role: Mapped[str] = mapped_column(String(16), default="member")  # what its members become
    uses: Mapped[int] = mapped_column(Integer)  # how many may sign up with it
    used: Mapped[int] = mapped_column(Integer, default=0)
    expires_at: Mapped[float | None] = mapped_column(Float, nullable=True)
    note: Mapped[str] = mapped_column(String(200), default="")
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[float] = mapped_column(Float)
    revoked_at: Mapped[float | None] = mapped_column(Float, nullable=True)


class MemberSession(Base):
    """A signed-in browser: the cookie holds a random secret, the store its hash."""

    __tablename__ = "member_sessions"

    secret_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    member_id: Mapped[str] = mapped_column(String(40), ForeignKey("members.id", ondelete="CASCADE"), index=True)
    csrf_token: Mapped[str] = mapped_column(String(64))  # sent back in X-CSRF-Token on every write
    created_at: Mapped[float] = mapped_column(Float)
    expires_at: Mapped[float] = mapped_column(Float)


class SignInFailure(Base):
    """Failed sign-ins per name and per address, for throttling password guessing."""

    __tablename__ = "sign_in_failures"

    key: Mapped[str] = mapped_column(String(120), primary_key=True)  # "name:<casefolded>" or "ip:<address>"
    count: Mapped[int] = mapped_column(Integer)
    first_at: Mapped[float] = mapped_column(Float)


class Report(Base):
    """Someone's report of a shared clip. The clip stays shared while the report waits."""

    __tablename__ = "reports"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)  # "rep_" + 128 random bits
    video_id: Mapped[str] = mapped_column(String(40), ForeignKey("videos.id", ondelete="CASCADE"), index=True)
    reporter: Mapped[str | None] = mapped_column(String(64), nullable=True)  # a client; None: anonymous
    reason: Mapped[str] = mapped_column(String(32))
    note: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[str] = mapped_column(String(16), default="open")  # open, actioned or dismissed
    created_at: Mapped[float] = mapped_column(Float)
    resolved_at: Mapped[float | None] = mapped_column(Float, nullable=True)
    resolved_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    resolution: Mapped[str | None] = mapped_column(Text, nullable=True)

    __table_args__ = (Index("reports_queue", "status", "created_at"),)


class AuditEntry(Base):
    """One action of a moderator or admin (jobs/audit.py): who, what, on what, why."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[float] = mapped_column(Float, index=True)
    actor: Mapped[str] = mapped_column(String(64))  # a client id, or "cli" for the command line
    action: Mapped[str] = mapped_column(String(40))
    target: Mapped[str] = mapped_column(String(64))
    detail: Mapped[dict] = mapped_column(JSON)
