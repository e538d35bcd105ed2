"""Datasets uploaded to the studio for training: each client's own folders, under
datasets/CLIENT/NAME in the storage root, laid out as `ungated dataset check` reads a folder (clips,
.txt captions beside them, metadata.jsonl / metadata.csv, folders of frames). Names and file paths
are checked before anything is written, so an upload can never land outside its dataset."""

from __future__ import annotations

import shutil
import zipfile
from pathlib import Path, PurePosixPath

from ..errors import InvalidRequest
from ..train.dataset import IMAGE_SUFFIXES, METADATA_FILES, VIDEO_SUFFIXES
from .storage import LORA_NAME, Storage

PLAIN_NAME = LORA_NAME  # letters, digits, '.', '_' and '-', starting with a letter or digit
CAPTION_SUFFIXES = {".txt"}
MAX_FILES = 10_000  # in one archive, frames of image sequences included


def folder(storage: Storage, client: str, name: str) -> Path:
    """Where the client's dataset NAME lives (whether or not it exists yet)."""
    if not PLAIN_NAME.fullmatch(name):
        raise InvalidRequest("name", "a dataset name is letters, digits, '.', '_' and '-', starting with a letter or "
                                     "digit, at most 100")
    return storage.root / "datasets" / client / name


def checked_path(relative: str) -> PurePosixPath:
    """A file's path inside a dataset as a client gives it: a clip, caption or metadata file at the
    top, or a frame one folder down (an image sequence); nothing hidden, nothing outside."""
    path = PurePosixPath(relative)
    parts = path.parts
    if not 1 <= len(parts) <= 2 or any(p in ("", ".", "..") or p.startswith(".") or "\\" in p or len(p) > 200
                                        for p in parts):
        raise InvalidRequest("path", f"{relative!r}: a file name, or FOLDER/FRAME for an image sequence "
                                     "(no hidden names, no '..')")
    suffix = path.suffix.lower()
    if len(parts) == 2:
        allowed = suffix in IMAGE_SUFFIXES
    else:
        allowed = suffix in VIDEO_SUFFIXES | IMAGE_SUFFIXES | CAPTION_SUFFIXES or path.name in METADATA_FILES
    if not allowed:
        kinds = ", ".join(sorted(VIDEO_SUFFIXES | IMAGE_SUFFIXES | CAPTION_SUFFIXES))
        raise InvalidRequest("path", f"{relative!r}: not a dataset file (clips and captions: {kinds}; "
                                     f"{' or '.join(METADATA_FILES)}; frames in a folder: images)")
    return path


def place(storage: Storage, client: str, name: str, relative: str, part: Path) -> dict:
    """Move an uploaded file (`part`) into the dataset at its path; returns the dataset's entry."""
    path = checked_path(relative)
    target = folder(storage, client, name) / path
    target.parent.mkdir(parents=True, exist_ok=True)
    part.replace(target)
    return entry(storage, client, name)


def unpack(storage: Storage, client: str, name: str, archive: Path) -> dict:
    """Add a zip of a dataset folder's files; a single folder at the top of the archive is the
    dataset itself (zipping the folder is the usual way). Every member's path is checked first."""
    try:
        with zipfile.ZipFile(archive) as zipped:
            members = [m for m in zipped.infolist() if not m.is_dir()]
            names = [PurePosixPath(m.filename) for m in members]
            tops = {n.parts[0] for n in names}
            strip = len(tops) == 1 and all(len(n.parts) > 1 for n in names)
            wanted = []
            for member, member_name in zip(members, names):
                relative = PurePosixPath(*member_name.parts[1:]) if strip else member_name
                if relative.name.startswith(".") or "__MACOSX" in relative.parts:
                    continue  # what archivers add: resource forks, .DS_Store
                wanted.append((member, checked_path(str(relative))))
            if not wanted:
                raise InvalidRequest("body", "the archive holds no dataset files")
            if len(wanted) > MAX_FILES:
                raise InvalidRequest("body", f"an archive may hold at most {MAX_FILES} files")
            root = folder(storage, client, name)
            for member, relative in wanted:
                target = root / relative
                target.parent.mkdir(parents=True, exist_ok=True)
                with zipped.open(member) as source, target.open("wb") as out:
                    shutil.copyfileobj(source, out)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError):
        raise InvalidRequest("body", "not a zip archive") from None
    return entry(storage, client, name)


def entry(storage: Storage, client: str, name: str) -> dict:
    files = [p for p in folder(storage, client, name).rglob("*") if p.is_file()]
    return {"name": name, "files": len(files), "size_bytes": sum(p.stat().st_size for p in files)}


def listing(storage: Storage, client: str) -> list[dict]:
    root = storage.root / "datasets" / client
    names = sorted(p.name for p in root.iterdir() if p.is_dir() and PLAIN_NAME.fullmatch(p.name)) if root.is_dir() else []
    return [entry(storage, client, name) for name in names]


def remove(storage: Storage, client: str, name: str) -> bool:
    path = folder(storage, client, name)
    if not path.is_dir():
        return False
    shutil.rmtree(path)
    return True

