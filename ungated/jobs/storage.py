"""Where the service keeps files: clips and their previews, uploaded inputs, and the LoRA library
(loras/NAME.safetensors, with an optional NAME.json saying what it was trained for), under one root
(the data directory by default). Workers on other machines must see the same root (a shared
mount) and are given its path; the store records paths relative to it."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

from .. import settings
from ..errors import InvalidRequest


LORA_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,99}")


class Storage:
    def __init__(self, root: Path | None = None):
        self.root = (root or settings.home() / "files").expanduser().resolve()

    def clip_path(self, video_id: str, token: str) -> Path:
        """Where one attempt writes its MP4: a name per attempt, so two never share files."""
        folder = self.root / "videos" / video_id
        folder.mkdir(parents=True, exist_ok=True)
        return folder / f"{token}.mp4"

    def preview_path(self, video_id: str) -> Path:
        """The latest low-resolution preview frame of a job being sampled."""
        return self.root / "videos" / video_id / "preview.jpg"

    def input_path(self, name: str) -> Path:
        folder = self.root / "inputs"
        folder.mkdir(parents=True, exist_ok=True)
        return folder / name

    @property
    def lora_folder(self) -> Path:
        return self.root / "loras"

    def lora_path(self, name: str) -> Path | None:
        """The library's LoRA of that name, or None (names are plain: no folders, no dots in front)."""
        if not LORA_NAME.fullmatch(name):
            return None
        path = self.lora_folder / f"{name}.safetensors"
        return path if path.is_file() else None

    def lora_files(self, named: object) -> list[dict]:
        """A request's `loras` as clients give them, [{"name": ..., "weight": ...}] naming LoRAs in
        the library, turned into the files the generation request takes."""
        if not isinstance(named, list):
            raise InvalidRequest("loras", 'must be a list of {"name": ..., "weight": ...} (GET /api/loras lists '
                                          "the names)")
        files = []
        for index, item in enumerate(named):
            where = f"loras.{index}"
            if not isinstance(item, dict) or set(item) - {"name", "weight"} or not isinstance(item.get("name"), str):
                raise InvalidRequest(where, 'must be {"name": ..., "weight": ...}, naming a LoRA in this server\'s '
                                            "library (GET /api/loras); the API does not take file paths")
            path = self.lora_path(item["name"])
            if path is None:
                raise InvalidRequest(f"{where}.name", f"no LoRA named {item['name']!r} in this server's library "
                                                      "(GET /api/loras lists them)")
            files.append({"path": path, **({"weight": item["weight"]} if "weight" in item else {})})
        return files

    def add_lora(self, name: str, part: Path, about: dict) -> dict:
        """Move an uploaded file (`part`, written beside the library) in as NAME, with its NAME.json;
        refuses a bad name, a file that is not a LoRA in safetensors, and a name already taken."""
        from safetensors import SafetensorError, safe_open

        if not LORA_NAME.fullmatch(name):
            raise InvalidRequest("name", "letters, digits, '.', '_' and '-', starting with a letter or digit, "
                                         "at most 100")
        try:
            with safe_open(str(part), framework="pt") as lora:
                keys = list(lora.keys())
        except (SafetensorError, OSError, ValueError, RuntimeError):
            raise InvalidRequest("body", "not a .safetensors file") from None
        if not any("lora" in key.lower() for key in keys):
            raise InvalidRequest("body", "a .safetensors file without LoRA weights (no key names 'lora')")
        target = self.lora_folder / f"{name}.safetensors"
        if target.exists():
            raise FileExistsError(name)
        target.with_suffix(".json").write_text(json.dumps(about, indent=2))
        part.replace(target)
        return next(entry for entry in self.loras() if entry["name"] == name)

    def remove_lora(self, name: str) -> None:
        for suffix in (".safetensors", ".json"):
            (self.lora_folder / f"{name}{suffix}").unlink(missing_ok=True)

    def loras(self) -> list[dict]:
        """Every LoRA in the library: name, size, and what its NAME.json says (model, ...)."""
        found = []
        for path in sorted(self.lora_folder.glob("*.safetensors")):
            if not LORA_NAME.fullmatch(path.stem):
                continue
            about = path.with_suffix(".json")
            try:
                info = json.loads(about.read_text()) if about.is_file() else {}
            except ValueError:
                info = {}
            found.append({**(info if isinstance(info, dict) else {}), "name": path.stem,
                          "size_bytes": path.stat().st_size})
        return found

    def relative(self, path: Path) -> str:
        return path.resolve().relative_to(self.root).as_posix()

    def resolve(self, relative: str) -> Path:
        path = (self.root / relative).resolve()
        if not path.is_relative_to(self.root):
            raise ValueError(f"{relative!r} is outside the storage root")
        return path

    def remove_video(self, video_id: str) -> None:
        shutil.rmtree(self.root / "videos" / video_id, ignore_errors=True)
