"""LoRAs on an open-model pipeline: loaded once per file, switched per request.

diffusers reads LoRAs in its own format and converts the ComfyUI / musubi-tuner / original
trainer formats it knows for each family; a file it cannot map to the model is refused by name.
Adapters stay loaded between requests (keyed by file and modification time) and a request
activates exactly its own, with its weights; a request with none disables them all, which gives
the base model's output back exactly.
"""

from __future__ import annotations

from ...errors import InvalidRequest
from ...request import LoraChoice


class LoraSlots:
    """The adapters loaded into one pipeline's components."""

    def __init__(self) -> None:
        self.names: dict[tuple[str, int], str] = {}  # (resolved path, mtime in ns) -> adapter name

    def apply(self, pipe, loras: tuple[LoraChoice, ...], model_id: str) -> None:
        if not loras:
            if self.names:
                pipe.disable_lora()
            return
        active = []
        for choice in loras:
            key = (str(choice.path.resolve()), choice.path.stat().st_mtime_ns)
            if key not in self.names:
                name = f"lora{len(self.names)}"
                try:
                    pipe.load_lora_weights(str(choice.path), adapter_name=name)
                except (ValueError, KeyError, RuntimeError, OSError) as err:
                    reason = str(err).strip().splitlines()[0][:200] if str(err).strip() else type(err).__name__
                    raise InvalidRequest("loras", f"{choice.path.name} is not a LoRA ungated can apply to "
                                                  f"{model_id}: {reason}") from None
                self.names[key] = name
            active.append(self.names[key])
        pipe.enable_lora()
        pipe.set_adapters(active, adapter_weights=[c.weight for c in loras])
