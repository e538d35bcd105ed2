"""`ungated serve` and `ungated worker`: the studio service and its worker processes."""

from __future__ import annotations

import logging
import os
import signal
import socket
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Optional

import typer

from . import settings
from .engines.base import EngineOptions
from .errors import UngatedError
from .options import (AttentionOption, CacheOption, CompileOption, Fp8Option, OffloadOption, QuantizeOption,
                      VaeTilingOption, worker_arguments)

DbOption = Annotated[Optional[str], typer.Option(
    "--db", help="Database URL: sqlite:///PATH or postgresql://USER:PASSWORD@HOST/NAME "
                 "[default: sqlite under the data directory].")]
StorageOption = Annotated[Optional[Path], typer.Option(
    help="Folder for clips and uploads; workers on other machines need the same folder mounted "
         "[default: DATA_DIR/files].")]
ModelsOption = Annotated[str, typer.Option(help="Comma-separated model ids the workers serve.")]


def _models(text: str) -> list[str]:
    from .engines.catalog import model_ids

    models = [m.strip() for m in text.split(",") if m.strip()]
    unknown = [m for m in models if m not in model_ids()]
    if not models or unknown:
        raise UngatedError(f"--models: unknown model {', '.join(unknown) or '(none given)'}; "
                           f"choose from: {', '.join(model_ids())}")
    return models


def _engine_options(models: list[str], **chosen) -> EngineOptions:
    """The options, checked against every served model now (building an engine loads no weights),
    so a wrong flag stops the command instead of failing every job."""
    from .engines.catalog import get_engine
    from .engines.open import memory, speed

    options = EngineOptions(**chosen)
    speed.check(options)
    memory.check_names(options.offload, options.quantize)
    for model_id in models:
        get_engine(model_id, options=options)
    return options


def _logging() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    logging.getLogger("alembic").setLevel(logging.WARNING)


def serve(
    host: Annotated[str, typer.Option(help="Address to listen on (0.0.0.0 for every interface).")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.", min=1, max=65535)] = 8000,
    db: DbOption = None,
    storage: StorageOption = None,
    workers: Annotated[int, typer.Option(help="Worker processes to run here (0: only workers started elsewhere).",
                                         min=0, max=64)] = 1,
    models: ModelsOption = "builtin",
    public: Annotated[bool, typer.Option("--public", help="Creating videos needs an identity: a member signed in "
                                                          "(invite them: `ungated invites create`) or an API key "
                                                          "(`ungated keys create`); reading shared videos stays "
                                                          "open.")] = False,
    offload: OffloadOption = None,
    fp8: Fp8Option = None,
    quantize: QuantizeOption = None,
    vae_tiling: VaeTilingOption = None,
    cache: CacheOption = "none",
    compile: CompileOption = False,
    attention: AttentionOption = None,
) -> None:
    """Run the studio: the OpenAI-compatible API at /v1, the studio API at /api and worker
    processes, with the store and files under the data directory (UNGATED_HOME, default ~/.ungated)."""
    import uvicorn

    from .api.app import create_app
    from .api.service import ServiceConfig
    from .jobs.quotas import Quota
    from .jobs.storage import Storage
    from .jobs.supervisor import Supervisor

    _logging()
    served = _models(models)
    options = _engine_options(served, offload=offload, fp8=fp8, quantize=quantize, vae_tiling=vae_tiling,
                              cache=cache, compile=compile, attention=attention)
    _check_signing()
    # Our own workers serve only the models whose weights are here; the others are refused when
    # asked for, until a worker that has them joins (with --workers 0, all are left to such workers).
    missing = _runnable(served, options)[1] if workers else {}
    local = [model_id for model_id in served if model_id not in missing]
    store, files = _store(db), Storage(storage)
    aliases = {**ServiceConfig().aliases, **settings.config().get("openai", {}).get("models", {})}
    community = settings.community()
    config = ServiceConfig(models=local if workers else served, aliases=aliases, public=public,
                           own_workers=bool(workers and local), unavailable=missing,
                           fetch_image_urls=settings.fetch_image_urls(),
                           open_signup=community.get("open_signup", False), quota=Quota().over(community))
    app = create_app(store, files, config)
    if public:
        _greet_community(store, host, port)
    _reap_at_start(store)
    supervisor = Supervisor(workers if local else 0, store.url, str(files.root), local, worker_arguments(options))
    supervisor.start()
    try:
        uvicorn.run(app, host=host, port=port, log_level="info")
    finally:
        supervisor.stop()


def _greet_community(store, host: str, port: int) -> None:
    """On a public server no one can sign in to yet, say how its first admin gets in."""
    from .jobs import members

    if members.count(store) == 0:
        where = f"http://{'127.0.0.1' if host in ('0.0.0.0', '::') else host}:{port}"
        logging.getLogger("ungated").warning(
            "this public server has no members yet: make its first admin's invite with "
            "`ungated invites create --role admin --url %s` and open the link it prints", where)


def _runnable(models: list[str], options: EngineOptions) -> tuple[list[str], dict[str, str]]:
    """(the models whose weights are on this machine, {model: why not} for the others), the
    others told to the log so the operator knows at once."""
    from .engines.catalog import unavailable

    missing = unavailable(models, options)
    for model_id, why in missing.items():
        logging.getLogger("ungated.serve").warning("%s is not served by this machine's workers: %s", model_id, why)
    return [model_id for model_id in models if model_id not in missing], missing


def _check_signing() -> None:
    """A configured signing key that cannot sign stops the command, rather than failing every job."""
    from .provenance import credentials

    credentials.load()


def _store(db: str | None, give_up: Callable[[], bool] = lambda: True):
    """The store at db (the default one if None), its schema brought up to date. An unavailable
    database is waited for (as a worker does between jobs) until give_up() says to stop: by
    default at once."""
    from .jobs import outages
    from .jobs.store import Store

    store = Store(db)
    outages.retry(store.migrate, "waiting for the database", give_up=give_up)
    return store


def _reap_at_start(store) -> None:
    """Hand back the jobs of this machine's workers that died with the last server (not counted
    against them: see queue.py), before new workers claim any. With the store unavailable, the
    reapers of the API and the workers do it once it is back."""
    from .jobs import outages, queue

    try:
        handled = queue.reap(store, socket.gethostname())
    except Exception as err:
        if outages.classify(err) is None:
            raise
        logging.getLogger("ungated.serve").warning("could not reap at start (%s)", outages.describe(err))
        return
    if handled:
        logging.getLogger("ungated.serve").info("back in the queue, from workers gone with the last server: %s",
                                                ", ".join(handled))


def worker(
    server: Annotated[Optional[str], typer.Option(
        help="Join the server at this URL (https://...) over HTTP only, with a worker token (`ungated workers "
             "add` on the server): no --db, no shared --storage.")] = None,
    token: Annotated[Optional[str], typer.Option(
        envvar="UNGATED_WORKER_TOKEN", show_envvar=True,
        help="The worker token (ugw_...) for --server; better given in the environment than on the command line.")]
    = None,
    db: DbOption = None,
    storage: StorageOption = None,
    models: ModelsOption = "builtin",
    offload: OffloadOption = None,
    fp8: Fp8Option = None,
    quantize: QuantizeOption = None,
    vae_tiling: VaeTilingOption = None,
    cache: CacheOption = "none",
    compile: CompileOption = False,
    attention: AttentionOption = None,
    parent_pid: Annotated[Optional[int], typer.Option(hidden=True)] = None,
) -> None:
    """Run one worker process: it claims jobs for MODELS, keeps those models loaded between jobs,
    and makes the clips. With --db/--storage it shares the server's store and files; with --server
    and a token it joins over HTTP(S) from anywhere, fetching each job's inputs and uploading the
    clip, which the server checks and signs. Only models whose weights are here are served."""
    if server is not None and (db is not None or storage is not None):
        raise UngatedError("--server: a worker joining over HTTP takes no --db or --storage; give one or the other")
    if server is not None and not token:
        raise UngatedError("--server: needs --token (or UNGATED_WORKER_TOKEN), a worker token from "
                           "`ungated workers add`")
    if server is not None and not _is_web_address(server):
        raise UngatedError(f"--server: {server!r} is not a server's address; give it as https://HOST "
                           "(or http://HOST:PORT on a trusted network)")

    _logging()
    served = _models(models)
    options = _engine_options(served, offload=offload, fp8=fp8, quantize=quantize, vae_tiling=vae_tiling,
                              cache=cache, compile=compile, attention=attention)
    if server is None:
        _check_signing()  # a remote worker signs nothing: the server does
    runnable, _ = _runnable(served, options)
    if not runnable:
        raise UngatedError(f"--models: no weights here for {', '.join(served)}; `ungated models pull ID` fetches them")
    if server is not None:
        from .jobs.remote import RemoteWorker

        remote = RemoteWorker(server, token, runnable, options)
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda *_: remote.stop())
        remote.serve()  # a refused token raises, told in one line
        os._exit(0)

    from .jobs.storage import Storage
    from .jobs.worker import Worker, parent_gone

    # Started while the database restarts (serve starts workers again after a crash), it waits for it
    store = _store(db, give_up=lambda: parent_gone(parent_pid))
    runner = Worker(store, Storage(storage), runnable, options, parent_pid=parent_pid)
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: runner.stopping.set())
    runner.serve()
    os._exit(0)  # skip slow interpreter teardown of loaded models


keys_app = typer.Typer(help="API keys for a public server (`serve --public`).", no_args_is_help=True)


@keys_app.command("create")
def create_key(
    name: Annotated[str, typer.Argument(help="Who the key is for, e.g. an artist's name.")],
    admin: Annotated[bool, typer.Option("--admin", help="May delete anyone's videos.")] = False,
    per_minute: Annotated[int, typer.Option(help="Videos it may ask for per minute.", min=1)] = 10,
    concurrent: Annotated[int, typer.Option(help="Of its videos queued or running at once.", min=1)] = 4,
    db: DbOption = None,
) -> None:
    """Create a key and print its secret (shown only this once)."""
    from .jobs import keys

    store = _store(db)
    key, secret = keys.create(store, name, admin=admin, per_minute=per_minute, concurrent=concurrent)
    print(secret)
    typer.echo(f"key {key.id} for {name!r}{' (admin)' if admin else ''}: {per_minute}/min, {concurrent} at once. "
               "Keep the secret above; it is not stored.", err=True)


@keys_app.command("list")
def list_keys(db: DbOption = None) -> None:
    """List keys (never their secrets)."""
    from rich.console import Console
    from rich.table import Table

    from .jobs import keys

    store = _store(db)
    table = Table("id", "name", "admin", "per minute", "at once", "state")
    for key in keys.all_keys(store):
        table.add_row(key.id, key.name, "yes" if key.admin else "", str(key.per_minute), str(key.concurrent),
                      "revoked" if key.revoked_at else "live")
    Console().print(table)


@keys_app.command("revoke")
def revoke_key(key_id: Annotated[str, typer.Argument(help="The key's id (from `ungated keys list`).")],
               db: DbOption = None) -> None:
    """Revoke a key: requests with it are refused from now on."""
    from .jobs import keys

    store = _store(db)
    if not keys.revoke(store, key_id):
        raise UngatedError(f"KEY_ID: no live key {key_id!r}; see `ungated keys list`")
    typer.echo(f"revoked {key_id}", err=True)


def _is_web_address(url: str) -> bool:
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 (reading it checks it)
    except ValueError:  # a port that is not a number, a broken IPv6 address
        return False
    return parts.scheme in ("http", "https") and bool(parts.hostname)


workers_app = typer.Typer(help="Worker tokens for the community GPU pool: workers anywhere that join this server "
                               "over HTTPS (`ungated worker --server URL --token ...`).", no_args_is_help=True)


@workers_app.command("add")
def add_worker(
    name: Annotated[str, typer.Argument(help="Who the worker is, e.g. its owner's name.")],
    models: Annotated[Optional[str], typer.Option(
        help="Comma-separated model ids it may serve [default: any].")] = None,
    untrusted: Annotated[bool, typer.Option(
        "--untrusted", help="A worker you do not know: it is never given a video whose prompt its artist keeps "
                            "private, and its speed does not steer ETAs.")] = False,
    db: DbOption = None,
) -> None:
    """Add a worker token and print its secret (shown only this once)."""
    from .jobs import worker_tokens

    chosen = [model.strip() for model in models.split(",") if model.strip()] if models else None
    store = _store(db)
    token, secret = worker_tokens.add(store, name, chosen, untrusted)
    print(secret)
    typer.echo(f"worker {token.name!r} ({token.id}){' untrusted' if untrusted else ''}, serving "
               f"{', '.join(chosen) if chosen else 'any model'}. Keep the secret above; it is not stored. On the "
               "worker's machine: ungated worker --server https://THIS-SERVER --token SECRET", err=True)


@workers_app.command("list")
def list_workers(db: DbOption = None) -> None:
    """List worker tokens and their records (never their secrets)."""
    import time

    from rich.console import Console
    from rich.table import Table

    from .jobs import worker_tokens

    store = _store(db)
    table = Table("name", "models", "state", "done", "failed", "refused", "s/step", "last seen")
    activity = worker_tokens.activity(store)
    for token in worker_tokens.all_tokens(store):
        state = f"paused: {token.pause_reason}" if token.paused_at else token.state
        now = activity.get(token.id, {"connected": 0, "running": []})
        if now["connected"]:
            state += f"\n{now['connected']} connected"
        state += "".join(f"\n{job['id']} {job['progress']}%" for job in now["running"])
        seen = f"{time.time() - token.last_seen_at:.0f} s ago" if token.last_seen_at else "never"
        speed = f"{token.seconds_per_step:.3g}" if token.seconds_per_step else ""
        table.add_row(token.name, ", ".join(token.models or ["any"]), state, str(token.jobs_done),
                      str(token.jobs_failed), str(token.results_refused), speed, seen)
    Console().print(table)


@workers_app.command("revoke")
def revoke_worker(name: Annotated[str, typer.Argument(help="The worker's name (from `ungated workers list`).")],
                  db: DbOption = None) -> None:
    """Revoke a worker token: its next call is refused and its running job goes back to the queue."""
    from .jobs import worker_tokens

    store = _store(db)
    handed_back = worker_tokens.revoke(store, name)
    if handed_back is None:
        raise UngatedError(f"NAME: no live worker named {name!r}; see `ungated workers list`")
    typer.echo(f"revoked {name}" + (f"; back in the queue: {', '.join(handed_back)}" if handed_back else ""), err=True)


@workers_app.command("unpause")
def unpause_worker(name: Annotated[str, typer.Argument(help="The worker's name (from `ungated workers list`).")],
                   db: DbOption = None) -> None:
    """Let a worker the server paused (after refused results) claim jobs again."""
    from .jobs import worker_tokens

    store = _store(db)
    if not worker_tokens.unpause(store, name):
        raise UngatedError(f"NAME: no live worker named {name!r}; see `ungated workers list`")
    typer.echo(f"unpaused {name}", err=True)
