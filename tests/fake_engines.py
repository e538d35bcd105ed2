"""Engines that exist only as capabilities, for tests of how requests are planned and queued
against models ungated does not ship yet (no worker runs in these tests, so none generates)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from ungated.api.app import create_app
from ungated.engines.base import Capabilities, Engine
from ungated.jobs.storage import Storage
from ungated.jobs.store import Store

# Draws any WIDTHxHEIGHT natively, 2-20 s at 8-30 fps, and loops: the built-in model's plan (issue 28).
ANY_ASPECT = Capabilities(
    sizes=((1280, 720), (720, 1280), (720, 720)), any_aspect=True,
    fps=tuple(range(8, 31)), default_fps=24, seconds_range=(2, 20), default_seconds=5.0,
    default_aspect="16:9", default_resolution="720p", default_steps=8, default_guidance=1.0, loop=True,
)
# One native size and 16 frames at 8 fps, and no loops: the built-in model as it was.
ONE_SIZE = Capabilities(
    sizes=((64, 64),), fps=(8,), default_fps=8, frames_min=16, frames_max=16, frames_step=1, default_seconds=2.0,
    default_aspect="1:1", default_resolution="480p", default_steps=32, default_guidance=1.0, any_output_size=True,
)


class CapabilitiesOnly(Engine):
    title = "capabilities only"

    def __init__(self, model_id: str, capabilities: Capabilities):
        self.id, self.capabilities = model_id, capabilities

    def weights_present(self) -> bool:
        return True

    def load(self) -> None:
        pass

    def generate(self, plan, seed, on_progress, should_cancel):
        raise AssertionError("no test generates with a capabilities-only engine")


def app_serving(tmp_path: Path, capabilities: Capabilities, **changes):
    """The API in-process with `builtin` (what sora-2 means) answered by an engine of these capabilities."""
    store = Store(f"sqlite:///{tmp_path / 'store.db'}")
    store.migrate()
    app = create_app(store, Storage(tmp_path / "files"))
    engine, others = CapabilitiesOnly("builtin", replace(capabilities, **changes)), app.state.studio.engine
    app.state.studio.engine = lambda model_id: engine if model_id == "builtin" else others(model_id)
    return app
