"""Shared fixtures: tiny, randomly initialised models (the built-in one and one per open-model
family) saved in the real on-disk layout and loaded through the same code path as real weights."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from ungated.engines.builtin import world
from ungated.engines.builtin.engine import BuiltinEngine
from ungated.engines.builtin.net import BuiltinConfig
from ungated.engines.builtin.weights import save_model, untrained_model

TINY = BuiltinConfig(
    vocabulary=tuple(world.vocabulary()), width=32, depth=1, text_depth=1, heads=2,
    decoder_channels=16, decoder_depth=1, decoder_text_width=32,
)


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
