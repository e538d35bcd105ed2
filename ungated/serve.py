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
from .errors import UngatedError

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
) -> None:
    """Run the studio: the OpenAI-compatible API at /v1 and worker processes, with the store and
    files under the data directory (UNGATED_HOME, default ~/.ungated)."""
    import uvicorn

    from .api.app import create_app
    from .api.service import ServiceConfig
    from .jobs import queue
    from .jobs.storage import Storage
    from .jobs.store import Store
    from .jobs.supervisor import Supervisor

    _logging()
    served = _models(models)
    store, files = Store(db), Storage(storage)
    store.migrate()
    aliases = {**ServiceConfig().aliases, **settings.config().get("openai", {}).get("models", {})}
    app = create_app(store, files, ServiceConfig(models=served, aliases=aliases))
    queue.reap(store, socket.gethostname())  # jobs of this machine's workers that died with the last server
    supervisor = Supervisor(workers, store.url, str(files.root), served)
    supervisor.start()
    try:
        uvicorn.run(app, host=host, port=port, log_level="info")
    finally:
        supervisor.stop()


def worker(
    db: DbOption = None,
    storage: StorageOption = None,
    models: ModelsOption = "builtin",
    parent_pid: Annotated[Optional[int], typer.Option(hidden=True)] = None,
) -> None:
    """Run one worker process: it claims jobs for MODELS from the store, keeps those models loaded
    between jobs, and writes clips under the storage folder."""
    from .jobs.storage import Storage
    from .jobs.store import Store
    from .jobs.worker import Worker

    _logging()
    store = Store(db)
    store.migrate()
    runner = Worker(store, Storage(storage), _models(models), parent_pid=parent_pid)
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: runner.stopping.set())
    runner.serve()
    os._exit(0)  # skip slow interpreter teardown of loaded models
