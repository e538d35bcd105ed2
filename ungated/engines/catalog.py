"""Model ids and the engines behind them.

Built-in engines register here exactly as an outside package would: one entry per model id,
mapping to a factory that builds the engine (cheaply: weights load later, in load()).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from ..errors import UnknownModel
from .base import Engine, EngineOptions

# Builds an engine reading its weights from a local folder (or its usual place given None), run
# with the given options.
EngineFactory = Callable[[Path | None, EngineOptions], Engine]
_FACTORIES: dict[str, EngineFactory] = {}


def register(model_id: str, factory: EngineFactory) -> None:
    _FACTORIES[model_id] = factory


def model_ids() -> list[str]:
    return list(_FACTORIES)


def get_engine(model_id: str, model_path: Path | None = None, options: EngineOptions = EngineOptions()) -> Engine:
    try:
        factory = _FACTORIES[model_id]
    except KeyError:
        raise UnknownModel(model_id, model_ids()) from None
    return factory(model_path, options)


def unavailable(model_ids: list[str], options: EngineOptions = EngineOptions()) -> dict[str, str]:
    """Why each of these models cannot run on this machine, for those that cannot: their weights
    are not here (checking is cheap: no weights load)."""
    return {model_id: f"its weights are not on this machine (`ungated models pull {model_id}` fetches them)"
            for model_id in model_ids if not get_engine(model_id, options=options).weights_present()}


def _builtin_engine(path: Path | None, options: EngineOptions) -> Engine:
    """The shapes model, or a clip model trained on an artist's clips when the folder holds one
    (the folder given, else config.toml's [models.builtin] path, else the shipped weights)."""
    from ..settings import configured_model_path
    from .builtin.weights import model_kind

    path = path or configured_model_path("builtin")

    if path is not None and model_kind(path) == "clips":
        from .builtin.clip_engine import BuiltinClipsEngine

        return BuiltinClipsEngine(path)
    from .builtin.engine import BuiltinEngine

    return BuiltinEngine(path)


def _register_builtin_engines() -> None:
    from .open.engine import OpenModelEngine
    from .open.models import MODELS, OPEN_MODELS
    from .pyramid_flow.engine import PyramidFlowEngine

    register("builtin", _builtin_engine)
    for model in MODELS:
        register(model.id, lambda path, options, model=model: OpenModelEngine(model, path, options))
    pyramid = OPEN_MODELS["pyramid-flow-miniflux"]
    register(pyramid.id, lambda path, options: PyramidFlowEngine(pyramid, path, options))


_register_builtin_engines()
