"""What a dataset trains at for a model id: the capabilities its trainer fits clips to, so that
`ungated dataset check --model ID` shows exactly the buckets training will use."""

from __future__ import annotations

from ..engines.base import Capabilities
from ..engines.builtin.clip_engine import clip_capabilities
from ..engines.builtin.clipnet import ClipConfig
from ..engines.catalog import get_engine
from ..engines.open.models import OPEN_MODELS
from .dataset import Clip


def training_targets(model_id: str, clips: list[Clip]) -> Capabilities:
    """builtin: the clip model at the size its trainer picks for these clips; an open model its
    LoRA trainer can train: its defaults (480p, 49 frames); any other: the model's native settings."""
    if model_id == "builtin":
        from .clips import ClipTrainPlan, size_for

        defaults = ClipTrainPlan(data_dir=None, out_dir=None, work_dir=None)
        width, height = size_for(clips, defaults.short_side, 2 ** len(defaults.channels)) if clips else (64, 64)
        return clip_capabilities(ClipConfig((), width, height, defaults.frames, defaults.fps))
    model = OPEN_MODELS.get(model_id)
    if model is not None:
        from .lora import DEFAULT_MAX_FRAMES, DEFAULT_RESOLUTION, is_trainable, training_capabilities

        if is_trainable(model):
            return training_capabilities(model, DEFAULT_RESOLUTION, DEFAULT_MAX_FRAMES)
    return get_engine(model_id).capabilities
