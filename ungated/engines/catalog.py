"""Model ids and the engines behind them.

Built-in engines register here exactly as an outside package would: one entry per model id,
mapping to a factory that builds the engine (cheaply: weights load later, in load()).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from ..errors import UnknownModel
from .base import Engine

# Builds an engine reading its weights from a local folder, or from its usual place given None.
EngineFactory = Callable[[Path | None], Engine]
_FACTORIES: dict[str, EngineFactory] = {}


def register(model_id: str, factory: EngineFactory) -> None:
    _FACTORIES[model_id] = factory


def model_ids() -> list[str]:
    return list(_FACTORIES)


def get_engine(model_id: str, model_path: Path | None = None) -> Engine:
    try:
        factory = _FACTORIES[model_id]
    except KeyError:
        raise UnknownModel(model_id, model_ids()) from None
    return factory(model_path)


def _register_builtin() -> None:
    from .builtin.engine import BuiltinEngine

    register("builtin", BuiltinEngine)


_register_builtin()
