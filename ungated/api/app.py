"""The FastAPI application: the APIs, their error shape, and a reaper that requeues the jobs of
workers that died."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from functools import partial

from fastapi import FastAPI

from .. import __version__
from ..jobs import outages, queue
from ..jobs.results import MAX_RESULT_BYTES
from ..jobs.storage import Storage
from ..jobs.store import Store
from . import (batches, boards, characters, errors, events, members, moderation, openai, own_queue, studio, trainings,
               web, worker_runs, workers)
from .director import Director
from .limits import BodyLimit
from .urls import CleanUrls
from .service import MAX_DATASET_BYTES, MAX_LORA_BYTES, ServiceConfig, Studio

log = logging.getLogger("ungated.api")
REAP_SECONDS = 5.0


def create_app(store: Store, storage: Storage, config: ServiceConfig = ServiceConfig()) -> FastAPI:
    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI):
        reaper = asyncio.create_task(_reap_forever(store))
        director = asyncio.create_task(app.state.director.run_forever())
        yield
        reaper.cancel()
        director.cancel()

    app = FastAPI(title="ungated", version=__version__, lifespan=lifespan,
                  description="Open text-to-video studio: an OpenAI-compatible Videos API at /v1 "
                              "and the studio API at /api.")
    app.state.studio = Studio(store, storage, config)
    app.state.progress_hub = events.VideoView(app.state.studio)  # SSE watchers and polls of videos
    app.state.training_hub = events.ProgressHub(partial(trainings.read_trainings, app.state.studio))
    app.state.director = Director(app.state.studio)  # makes storyboards
    errors.install(app)
    # LoRAs, datasets and remote workers' clips are larger uploads than a request's image or video.
    app.add_middleware(BodyLimit, routes={("PUT", "/api/loras/"): MAX_LORA_BYTES,
                                          ("PUT", "/api/datasets/"): MAX_DATASET_BYTES,
                                          ("PUT", "/api/worker/jobs/"): MAX_RESULT_BYTES})
    app.add_middleware(workers.WorkerCalls)
    app.add_middleware(CleanUrls)
    app.include_router(openai.router)
    app.include_router(characters.router)
    app.include_router(studio.router)
    app.include_router(batches.router)
    app.include_router(own_queue.router)
    app.include_router(members.router)
    app.include_router(moderation.router)
    app.include_router(events.router)
    app.include_router(trainings.router)
    app.include_router(boards.router)
    app.include_router(workers.router)
    app.include_router(worker_runs.router)
    web.install(app)
    return app


async def _reap_forever(store: Store) -> None:
    host = socket.gethostname()
    while True:
        try:
            handled = await asyncio.to_thread(queue.reap, store, host)
            if handled:
                log.warning("requeued the jobs of lost workers: %s", ", ".join(handled))
        except Exception as err:
            if outages.classify(err) is None:
                log.exception("reaping failed; trying again")
            else:
                log.warning("reaping waits for the store: %s", outages.describe(err))
        await asyncio.sleep(REAP_SECONDS)
