"""Shared fixtures: tiny, randomly initialised models (the built-in one and one per open-model
family) saved in the real on-disk layout and loaded through the same code path as real weights."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import pytest
import torch

from ungated.engines.builtin import world
from ungated.engines.builtin.engine import BuiltinEngine
from ungated.engines.builtin.net import BuiltinConfig
from ungated.engines.builtin.weights import save_model, untrained_model

TINY = BuiltinConfig(
    vocabulary=tuple(world.vocabulary()), width=32, depth=1, text_depth=1, heads=2,
    painter_width=16,
)


@pytest.fixture(autouse=True, scope="session")
def isolated_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data directory for the session, so no test writes to the user's (signing keys included)."""
    home = tmp_path_factory.mktemp("ungated-home")
    os.environ["UNGATED_HOME"] = str(home)
    # Tests run open-model rows on tiny folders at their native settings, in float32, like plain
    # diffusers; tests/test_laptop_mode.py turns laptop mode on where it is what they test.
    os.environ["UNGATED_LAPTOP_MODE"] = "off"
    return home


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("tiny-builtin")
    save_model(untrained_model(TINY), path)
    return path


@pytest.fixture(scope="session")
def tiny_folders(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Tiny open-model pipelines of every family, saved in the diffusers layout."""
    from .tiny_pipelines import BUILDERS, save_tiny

    root = tmp_path_factory.mktemp("tiny-open-models")
    return {kind: save_tiny(kind, root / kind) for kind in BUILDERS}


@pytest.fixture
def tiny_engine(tiny_model_dir: Path) -> BuiltinEngine:
    return BuiltinEngine(model_dir=tiny_model_dir)


@pytest.fixture(scope="session")
def postgres():
    """A PostgreSQL server for the session, or a skip where none is installed (CI always has one:
    it fails instead of skipping)."""
    from .postgres import TemporaryPostgres, binaries

    found = binaries()
    if found is None:
        if os.environ.get("CI"):
            pytest.fail("PostgreSQL is not installed; run scripts/test-deps.sh")
        pytest.skip("PostgreSQL is not installed (scripts/test-deps.sh installs it)")
    server = TemporaryPostgres(found).start()
    yield server
    server.stop()


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request, tmp_path: Path) -> str:
    """A fresh, empty database of each kind the store supports."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'store.db'}"
    server = request.getfixturevalue("postgres")
    return server.create_database(f"test_{uuid.uuid4().hex[:12]}")


@pytest.fixture
def store(db_url: str):
    """A migrated store, on SQLite and on PostgreSQL."""
    from ungated.jobs.store import Store

    store = Store(db_url)
    store.migrate()
    yield store
    store.dispose()


@pytest.fixture
def server(tmp_path: Path, db_url: str):
    """`ungated serve` with one worker, on each kind of store."""
    from .service import Server

    running = Server(tmp_path, db_url).start()
    yield running
    running.stop()
