"""`ungated serve` and `ungated worker`: the studio service and its worker processes."""

from __future__ import annotations

import logging
import os
import signal
import socket
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
    public: Annotated[bool, typer.Option("--public", help="Creating videos needs an API key (`ungated keys "
                                                          "create`); reading shared videos stays open.")] = False,
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
    from .jobs.storage import Storage
    from .jobs.store import Store
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
    store, files = Store(db), Storage(storage)
    store.migrate()
    aliases = {**ServiceConfig().aliases, **settings.config().get("openai", {}).get("models", {})}
    config = ServiceConfig(models=local if workers else served, aliases=aliases, public=public,
                           own_workers=bool(workers and local), unavailable=missing)
    app = create_app(store, files, config)
    _reap_at_start(store)
    supervisor = Supervisor(workers if local else 0, store.url, str(files.root), local, worker_arguments(options))
    supervisor.start()
    try:
        uvicorn.run(app, host=host, port=port, log_level="info")
    finally:
        supervisor.stop()


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
    """Run one worker process: it claims jobs for MODELS from the store, keeps those models loaded
    between jobs, and writes clips under the storage folder."""
    from .jobs.storage import Storage
    from .jobs.store import Store
    from .jobs.worker import Worker

    _logging()
    served = _models(models)
    options = _engine_options(served, offload=offload, fp8=fp8, quantize=quantize, vae_tiling=vae_tiling,
                              cache=cache, compile=compile, attention=attention)
    _check_signing()
    runnable, _ = _runnable(served, options)
    if not runnable:
        raise UngatedError(f"--models: no weights here for {', '.join(served)}; `ungated models pull ID` fetches them")
    store = Store(db)
    store.migrate()
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
    from .jobs.store import Store

    store = Store(db)
    store.migrate()
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
    from .jobs.store import Store

    store = Store(db)
    store.migrate()
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
    from .jobs.store import Store

    store = Store(db)
    store.migrate()
    if not keys.revoke(store, key_id):
        raise UngatedError(f"KEY_ID: no live key {key_id!r}; see `ungated keys list`")
    typer.echo(f"revoked {key_id}", err=True)
