"""Tokenizers published as multimodal processors, loaded as the tokenizer alone.

Kandinsky 5's folders name their Qwen2.5-VL tokenizer a `Qwen2VLProcessor`: a tokenizer with an image
and a video processor beside it. transformers builds that video processor only with torchvision
installed, and no torchvision wheel on PyPI runs with a CPU build of torch (they are CUDA builds), so
diffusers' own loading of such a folder fails without it. The pipeline only ever calls the processor
with text (`images=None, videos=None`), and a processor given text alone returns its tokenizer's
output for that text: the folder's tokenizer, loaded by itself, is all the pipeline uses.
"""

from __future__ import annotations

from pathlib import Path


def left_out(family) -> dict[str, None]:
    """from_pretrained arguments that load a pipeline without its text-only processors."""
    return {name: None for name in family.text_only_processors}


def attach_tokenizers(pipe, family, folder: Path) -> None:
    """Each text-only processor's tokenizer, from the folder, as the pipeline's component."""
    from transformers import AutoTokenizer

    for name in family.text_only_processors:
        setattr(pipe, name, AutoTokenizer.from_pretrained(folder / name))
