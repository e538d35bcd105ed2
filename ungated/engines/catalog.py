"""Model ids and the engines behind them.

Built-in engines register here exactly as an outside package would: one entry per model id,
mapping to a factory that builds the engine (cheaply: weights load later, in load()).
"""

from __future__ import annotations

from collections.abc import Callable

from ..errors import UnknownModel
from .base import Engine

EngineFactory = Callable[[], Engine]
_FACTORIES: dict[str, EngineFactory] = {}


def register(model_id: str, factory: EngineFactory) -> None:
    _FACTORIES[model_id] = factory


def model_ids() -> list[str]:
    return list(_FACTORIES)


def get_engine(model_id: str) -> Engine:
    try:
        factory = _FACTORIES[model_id]
    except KeyError:
        raise UnknownModel(model_id, model_ids()) from None
    return factory()


def _register_builtin() -> None:
    from .builtin.engine import BuiltinEngine

    register("builtin", BuiltinEngine)


_register_builtin()
