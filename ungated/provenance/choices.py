"""What the artist chooses about a clip's provenance, as part of the request."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

Corner = Literal["top-left", "top-right", "bottom-left", "bottom-right"]


class ProvenanceChoices(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    publish_prompt: bool = True  # the prompt and seed go into the signed manifest
    watermark: bool = True  # the invisible watermark
    mark_text: str | None = Field(default=None, max_length=60)  # a visible mark: the artist's own text
    mark_corner: Corner = "bottom-right"
    mark_opacity: float = Field(default=0.6, ge=0.05, le=1.0)
