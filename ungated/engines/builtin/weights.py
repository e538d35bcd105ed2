"""Where the built-in model's files live and how they are read and written.

A model folder holds config.json and model.safetensors (fp16). The shapes model's keys are
prefixed "tracks." and "painter."; a clip model (trained on an artist's clips, clipnet.py) says
"kind": "clips" in its config.json and its keys are the ClipNet's own. The shipped folder (the
shapes model) sits inside the package; a user-trained one can live anywhere.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import json

import torch
from safetensors.torch import load_file, save_file

from ...errors import ModelUnavailable
from .clipnet import ClipConfig, ClipNet
from .net import BuiltinConfig, ShapePainter, TrackNet

SHIPPED_DIR = Path(__file__).parent / "weights"
CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"


@dataclass
class BuiltinModel:
    config: BuiltinConfig
    tracks: TrackNet
    painter: ShapePainter

    def parts(self) -> dict[str, torch.nn.Module]:
        return {"tracks": self.tracks, "painter": self.painter}


def untrained_model(config: BuiltinConfig) -> BuiltinModel:
    """Randomly initialised networks of the given shape: a baseline, and the tests' tiny model."""
    return BuiltinModel(config, TrackNet(config), ShapePainter(config))


def is_model_dir(path: Path) -> bool:
    return (path / CONFIG_FILE).is_file() and (path / WEIGHTS_FILE).is_file()


def model_kind(path: Path) -> str:
    """"clips" for a model trained on an artist's clips, "shapes" for the shapes model."""
    try:
        return json.loads((path / CONFIG_FILE).read_text()).get("kind", "shapes")
    except (OSError, ValueError, AttributeError):
        return "shapes"


def _save_tensors(tensors: dict[str, torch.Tensor], config_json: str, path: Path) -> None:
    path.mkdir(parents=True, exist_ok=True)
    tensors = {k: v.detach().to(torch.float16).contiguous() for k, v in tensors.items()}
    save_file(tensors, str(path / WEIGHTS_FILE), metadata={"format": "pt"})
    (path / CONFIG_FILE).write_text(config_json)


def save_clip_model(net: ClipNet, config: ClipConfig, path: Path) -> None:
    _save_tensors(net.state_dict(), config.to_json(), path)


def load_clip_model(path: Path) -> tuple[ClipConfig, ClipNet]:
    try:
        config = ClipConfig.from_json((path / CONFIG_FILE).read_text())
        net = ClipNet(config)
        net.load_state_dict({k: v.float() for k, v in load_file(str(path / WEIGHTS_FILE)).items()})
    except (KeyError, TypeError, ValueError, RuntimeError) as exc:
        raise ModelUnavailable(
            f"{path} does not hold a clip model this version of ungated can read ({exc.__class__.__name__}); "
            "train it again with `ungated train builtin --data DIR`"
        ) from None
    return config, net.eval().requires_grad_(False)


def save_model(model: BuiltinModel, path: Path) -> None:
    tensors = {f"{name}.{k}": v for name, part in model.parts().items() for k, v in part.state_dict().items()}
    _save_tensors(tensors, model.config.to_json(), path)


def load_model(path: Path) -> BuiltinModel:
    try:
        config = BuiltinConfig.from_json((path / CONFIG_FILE).read_text())
        tensors = load_file(str(path / WEIGHTS_FILE))
        model = untrained_model(config)
        for name, part in model.parts().items():
            prefix = f"{name}."
            part.load_state_dict({k[len(prefix):]: v.float() for k, v in tensors.items() if k.startswith(prefix)})
            part.eval().requires_grad_(False)
    except (KeyError, TypeError, ValueError, RuntimeError) as exc:
        # Weights trained by another version of the network: say so instead of a traceback.
        raise ModelUnavailable(
            f"{path} does not hold weights this version of the built-in model can read ({exc.__class__.__name__}); "
            "retrain them with `ungated train builtin`"
        ) from None
    return model
