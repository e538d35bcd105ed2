"""Training datasets: a folder of clips with captions, as video trainers in the field lay them out.

A clip is a video file (mp4, mov, webm, mkv, gif), a folder of frames (png, jpg, webp; an image
sequence, named in order), or a single image (a still). Its caption comes from, in this order:
an entry in metadata.jsonl or metadata.csv (a file-name field: file_name, video, path or file;
a caption field: text, caption or prompt; paths relative to the folder), or a .txt of the same
name beside it (for a folder of frames: FOLDER.txt beside the folder).

`scan` reads every clip (decoding all its frames, so a file that breaks halfway is caught) and
returns what it found and every problem, each tied to the file it is about.
"""

from __future__ import annotations

import csv
import json
import statistics
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import av
from PIL import Image, UnidentifiedImageError

from ..media.inputs import MAX_PIXELS, too_many_pixels

VIDEO_SUFFIXES = {".mp4", ".mov", ".webm", ".mkv", ".m4v", ".gif"}
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".webp"}
METADATA_FILES = ("metadata.jsonl", "metadata.csv")
NAME_FIELDS = ("file_name", "video", "path", "file")
CAPTION_FIELDS = ("text", "caption", "prompt")
SEQUENCE_FPS = 24  # a folder of frames says nothing about its rate; metadata may give "fps"
MIN_SIDE = 64  # below this a clip has too little to learn from at any model's size


@dataclass(frozen=True)
class Clip:
    path: str  # relative to the dataset folder, with "/" separators
    kind: str  # "video", "frames" or "image"
    caption: str
    frames: int
    fps: float
    width: int
    height: int

    @property
    def seconds(self) -> float:
        return self.frames / self.fps if self.kind != "image" else 0.0


# What each kind of problem is, in words, its values filled in. The studio words the same codes in
# its reader's language (train.problem_<code> in ungated/web/locales).
PROBLEM_WORDS = {
    "not_json": "not a JSON object",
    "no_name": "no file name (one of: {fields})",
    "no_caption_field": "no caption field (one of: {fields})",
    "missing_file": "names {name}, which is not in the folder",
    "unreadable": "unreadable: {error}",
    "no_caption": "no caption: add {sidecar} or a metadata entry",
    "empty_caption": "empty caption",
    "too_short": "too short: {seconds:.2f} s ({frames} frames); at least {least:g} s",
    "too_small": "too small: {size}; at least {least} px a side",
    "odd_size": "odd size: {size}; width and height must be even",
    "orphan_caption": "a caption for no clip",
    "unfit": "{reason}",  # no bucket of the model fits the clip (buckets.py)
}


@dataclass(frozen=True)
class Problem:
    path: str  # the file (or metadata line) the problem is about
    code: str  # a key of PROBLEM_WORDS
    values: dict[str, object] = field(default_factory=dict)

    @property
    def what(self) -> str:
        return PROBLEM_WORDS[self.code].format(**self.values)

    def to_json(self) -> dict[str, object]:
        return {"path": self.path, "what": self.what, "code": self.code, "values": self.values}


@dataclass
class Report:
    folder: Path
    clips: list[Clip] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)

    def summary(self) -> dict[str, object]:
        moving_clips = [c for c in self.clips if c.kind != "image"]
        moving = [c.seconds for c in moving_clips]
        return {
            "clips": len(self.clips),
            "kinds": dict(Counter(c.kind for c in self.clips)),
            "seconds_total": round(sum(moving), 2),
            "seconds_min": round(min(moving), 2) if moving else None,
            "seconds_median": round(statistics.median(moving), 2) if moving else None,
            "seconds_max": round(max(moving), 2) if moving else None,
            "sizes": {f"{w}x{h}": n for (w, h), n in Counter((c.width, c.height) for c in self.clips).most_common()},
            "fps": {f"{f:g}": n for f, n in Counter(round(c.fps, 3) for c in moving_clips).most_common()},
            "problems": len(self.problems),
        }

    def to_json(self) -> dict[str, object]:
        return {"folder": str(self.folder), "summary": self.summary(),
                "problems": [p.to_json() for p in self.problems], "clips": [asdict(c) for c in self.clips]}


def _relative(path: Path, folder: Path) -> str:
    return path.relative_to(folder).as_posix()


def _read_metadata(folder: Path, report: Report) -> dict[str, dict[str, str]]:
    """Entries of metadata.jsonl / metadata.csv by relative file name."""
    rows: list[tuple[str, dict]] = []
    jsonl, table = folder / METADATA_FILES[0], folder / METADATA_FILES[1]
    if jsonl.is_file():
        for number, line in enumerate(jsonl.read_text(encoding="utf-8", errors="replace").splitlines(), start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError:
                report.problems.append(Problem(f"{jsonl.name} line {number}", "not_json"))
                continue
            if not isinstance(row, dict):
                report.problems.append(Problem(f"{jsonl.name} line {number}", "not_json"))
                continue
            rows.append((f"{jsonl.name} line {number}", row))
    if table.is_file():
        with table.open(newline="", encoding="utf-8", errors="replace") as f:
            for number, row in enumerate(csv.DictReader(f), start=2):  # line 1 is the header
                rows.append((f"{table.name} line {number}", row))
    entries: dict[str, dict[str, str]] = {}
    for where, row in rows:
        name = next((str(row[k]) for k in NAME_FIELDS if row.get(k)), None)
        caption = next((row[k] for k in CAPTION_FIELDS if k in row), None)
        if name is None:
            report.problems.append(Problem(where, "no_name", {"fields": ", ".join(NAME_FIELDS)}))
            continue
        if caption is None:
            report.problems.append(Problem(where, "no_caption_field", {"fields": ", ".join(CAPTION_FIELDS)}))
            continue
        name = Path(name).as_posix().removeprefix("./")
        if not (folder / name).exists():
            report.problems.append(Problem(where, "missing_file", {"name": name}))
            continue
        entries[name] = {"caption": str(caption), "fps": str(row.get("fps") or "")}
    return entries


def _candidates(folder: Path) -> list[tuple[Path, str]]:
    """(path, kind) for every clip in the folder, in name order."""
    found = []
    frame_folders: set[Path] = set()
    for path in sorted(folder.rglob("*")):
        if any(part.startswith(".") for part in path.relative_to(folder).parts):
            continue  # hidden files and folders (.cache, .DS_Store) are not clips
        if path.is_dir():
            if any(p.suffix.lower() in IMAGE_SUFFIXES for p in path.iterdir() if p.is_file()):
                found.append((path, "frames"))
                frame_folders.add(path)
        elif path.suffix.lower() in VIDEO_SUFFIXES:
            found.append((path, "video"))
        elif path.suffix.lower() in IMAGE_SUFFIXES and frame_folders.isdisjoint(path.parents):
            found.append((path, "image"))  # an image outside any folder of frames is a still
    return found


def _probe_video(path: Path) -> tuple[int, float, int, int]:
    """Frames (all decoded), fps, width, height; raises ValueError when unreadable."""
    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                raise ValueError("has no video stream")
            stream = container.streams.video[0]
            frames = sum(1 for _ in container.decode(stream))
            rate = stream.average_rate or stream.guessed_rate
            return frames, float(rate) if rate else 0.0, stream.codec_context.width, stream.codec_context.height
    except (av.error.FFmpegError, OSError) as err:
        raise ValueError(f"cannot be decoded ({type(err).__name__})") from None


def _probe_image(path: Path, what: str = "file") -> tuple[int, int]:
    """Width and height of an image, decoded whole (so a broken one is caught) unless it is over
    MAX_PIXELS; raises ValueError saying what is wrong."""
    try:
        with Image.open(path) as im:
            if im.width * im.height > MAX_PIXELS:
                raise ValueError(f"too large: {too_many_pixels(what, *im.size)}")
            im.load()
            return im.size
    except Image.DecompressionBombError:
        raise ValueError(f"too large: {too_many_pixels(what)}") from None
    except (UnidentifiedImageError, OSError, SyntaxError):
        raise ValueError(f"the {what} is not an image ungated can read") from None


def _probe_frames(folder: Path) -> tuple[int, int, int]:
    """Frame count, width, height of a folder of frames; raises ValueError naming a bad frame."""
    images = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    sizes = {_probe_image(image, f"frame {image.name}") for image in images}
    if len(sizes) > 1:
        raise ValueError("frames differ in size: " + ", ".join(f"{w}x{h}" for w, h in sorted(sizes)))
    (width, height), = sizes
    return len(images), width, height


def scan(folder: Path, min_seconds: float = 1.0,
         on_clip: Callable[[int, int], None] = lambda done, total: None) -> Report:
    report = Report(folder)
    entries = _read_metadata(folder, report)
    clip_names = set()
    candidates = _candidates(folder)
    for done, (path, kind) in enumerate(candidates, start=1):
        on_clip(done, len(candidates))
        name = _relative(path, folder)
        clip_names.add(name)
        sidecar = path.with_suffix(".txt") if kind != "frames" else path.parent / f"{path.name}.txt"
        entry = entries.get(name)
        try:
            if kind == "video":
                frames, fps, width, height = _probe_video(path)
                if frames == 0:
                    raise ValueError("has no frames")
            elif kind == "frames":
                frames, width, height = _probe_frames(path)
                fps = float((entry or {}).get("fps") or SEQUENCE_FPS)
            else:
                frames, fps = 1, 0.0
                width, height = _probe_image(path)
        except ValueError as err:
            report.problems.append(Problem(name, "unreadable", {"error": str(err)}))
            continue
        caption = entry["caption"] if entry else (sidecar.read_text(encoding="utf-8", errors="replace")
                                                   if sidecar.is_file() else None)
        problems_before = len(report.problems)
        if caption is None:
            report.problems.append(Problem(name, "no_caption", {"sidecar": _relative(sidecar, folder)}))
        elif not caption.strip():
            report.problems.append(Problem(name, "empty_caption"))
        if kind != "image" and fps and frames / fps < min_seconds:
            report.problems.append(Problem(name, "too_short", {"seconds": round(frames / fps, 2), "frames": frames,
                                                               "least": min_seconds}))
        if min(width, height) < MIN_SIDE:
            report.problems.append(Problem(name, "too_small", {"size": f"{width}x{height}", "least": MIN_SIDE}))
        elif width % 2 or height % 2:
            report.problems.append(Problem(name, "odd_size", {"size": f"{width}x{height}"}))
        if len(report.problems) == problems_before:
            report.clips.append(Clip(name, kind, caption.strip(), frames, fps, width, height))
    captioned = clip_names | {name.rsplit(".", 1)[0] for name in clip_names}  # what NAME.txt can be beside
    for text in sorted(folder.rglob("*.txt")):
        if _relative(text.with_suffix(""), folder) not in captioned:
            report.problems.append(Problem(_relative(text, folder), "orphan_caption"))
    return report
