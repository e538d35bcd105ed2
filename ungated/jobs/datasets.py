"""Datasets uploaded to the studio for training: each client's own folders, under
datasets/CLIENT/NAME in the storage root, laid out as `ungated dataset check` reads a folder (clips,
.txt captions beside them, metadata.jsonl / metadata.csv, folders of frames). Names and file paths
are checked before anything is written, so an upload can never land outside its dataset; a zip is
unpacked (with limits, archive.py) beside the datasets and moved in only when all of it is good;
and a key that is not an admin's has a storage quota for all its datasets together."""

from __future__ import annotations

import shutil
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from ..errors import InvalidRequest, UngatedError
from ..train.dataset import IMAGE_SUFFIXES, METADATA_FILES, VIDEO_SUFFIXES
from .archive import Archive, Member, amount
from .paths import client_path
from .storage import LORA_NAME, Storage

PLAIN_NAME = LORA_NAME  # letters, digits, '.', '_' and '-', starting with a letter or digit
CAPTION_SUFFIXES = {".txt"}
QUOTA_BYTES = 10 * 2**30  # all of one key's datasets together; admins (and the local user) have no quota
QUOTA_FILES = 50_000  # five archives of the most files one may hold
_client_locks: dict[str, threading.Lock] = {}  # one upload of a client's at a time checks its quota and moves in


class OverQuota(UngatedError):
    """An upload would take a key's datasets over its quota; the message says what they use and the cap."""


@dataclass(frozen=True)
class Quota:
    bytes: int
    files: int


def quota_for(admin: bool) -> Quota | None:
    return None if admin else Quota(QUOTA_BYTES, QUOTA_FILES)


def folder(storage: Storage, client: str, name: str) -> Path:
    """Where the client's dataset NAME lives (whether or not it exists yet)."""
    if not PLAIN_NAME.fullmatch(name):
        raise InvalidRequest("name", "a dataset name is letters, digits, '.', '_' and '-', starting with a letter or "
                                     "digit, at most 100")
    return storage.root / "datasets" / client / name


def uploads(storage: Storage) -> Path:
    """Where uploads are received and unpacked before they join a dataset (beside the datasets, on
    the same disk, so moving them in is a rename)."""
    spool = storage.root / "datasets" / ".uploads"
    spool.mkdir(parents=True, exist_ok=True)
    return spool


def checked_path(relative: str) -> PurePosixPath:
    """A file's path inside a dataset as a client gives it: a clip, caption or metadata file at the
    top, or a frame one folder down (an image sequence); nothing hidden, nothing outside."""
    path = client_path(relative)
    parts = path.parts
    if len(parts) > 2 or any(p.startswith(".") for p in parts):
        raise InvalidRequest("path", f"{relative!r}: a file name, or FOLDER/FRAME for an image sequence "
                                     "(no hidden names)")
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


def usage(storage: Storage, client: str) -> tuple[int, int]:
    """Bytes and files in all the client's datasets."""
    files = [p for p in (storage.root / "datasets" / client).rglob("*") if p.is_file()]
    return sum(p.stat().st_size for p in files), len(files)


def room(storage: Storage, client: str, quota: Quota | None, replacing: Path | None = None) -> int | None:
    """The most bytes an upload may bring under the client's quota (counting the file it replaces),
    or None with no quota. OverQuota when the quota is used up already."""
    if quota is None:
        return None
    used, files = usage(storage, client)
    if used >= quota.bytes or files >= quota.files:
        raise OverQuota(_over_quota(used, files, quota, "any upload"))
    return quota.bytes - used + (replacing.stat().st_size if replacing is not None and replacing.is_file() else 0)


def place(storage: Storage, client: str, name: str, relative: str, part: Path, quota: Quota | None = None) -> dict:
    """Move an uploaded file (`part`) into the dataset at its path; returns the dataset's entry."""
    path = checked_path(relative)
    root = folder(storage, client, name)
    with _client_locks.setdefault(client, threading.Lock()):
        _check_clashes(root, [path])
        _check_quota(storage, client, quota, root, {path: part.stat().st_size})
        target = root / path
        target.parent.mkdir(parents=True, exist_ok=True)
        part.replace(target)
    return entry(storage, client, name)


def unpack(storage: Storage, client: str, name: str, zipped: Path, quota: Quota | None = None) -> dict:
    """Add a zip of a dataset folder's files; a single folder at the top of the archive is the
    dataset itself (zipping the folder is the usual way). The archive and every member's path are
    checked first, then it is unpacked beside the datasets and moved in only when all of it is good."""
    root = folder(storage, client, name)
    with Archive(zipped) as archive:
        wanted = _dataset_members(archive.members)
        sizes = {relative: member.size for member, relative in wanted}
        _check_clashes(root, list(sizes))
        _check_quota(storage, client, quota, root, sizes)  # as declared; checked again as unpacked
        staging = Path(tempfile.mkdtemp(prefix="unpack-", dir=uploads(storage)))
        try:
            for member, relative in wanted:
                (staging / relative).parent.mkdir(parents=True, exist_ok=True)
                sizes[relative] = archive.extract(member, staging / relative)
            with _client_locks.setdefault(client, threading.Lock()):
                _check_clashes(root, list(sizes))  # the dataset may have changed meanwhile
                _check_quota(storage, client, quota, root, sizes)
                for relative in sizes:
                    (root / relative).parent.mkdir(parents=True, exist_ok=True)
                    (staging / relative).replace(root / relative)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    return entry(storage, client, name)


def _dataset_members(members: list[Member]) -> list[tuple[Member, PurePosixPath]]:
    """The archive's dataset files and their paths in the dataset, leaving out what archivers add
    (__MACOSX resource forks, .DS_Store) and a single folder at the top."""
    kept = [m for m in members if "__MACOSX" not in m.path.parts and not any(p.startswith(".") for p in m.path.parts)]
    strip = len({m.path.parts[0] for m in kept}) == 1 and all(len(m.path.parts) > 1 for m in kept)
    wanted = [(m, checked_path(str(PurePosixPath(*m.path.parts[1:]) if strip else m.path))) for m in kept]
    if not wanted:
        raise InvalidRequest("body", "the archive holds no dataset files")
    return wanted


def _check_clashes(root: Path, paths: list[PurePosixPath]) -> None:
    """A file and a folder of frames may not share a name, within an upload or with the dataset."""
    new = set(paths)
    for path in paths:
        for above in path.parents[:-1]:  # the folders it is in, '.' left out
            if above in new or (root / above).is_file():
                raise InvalidRequest("path", f"{str(above)!r} is a file, so it cannot also be a folder of frames "
                                             f"({str(path)!r}); rename one of them")
        if (root / path).is_dir():
            raise InvalidRequest("path", f"{str(path)!r} is a folder of frames in the dataset, so it cannot also be "
                                         "a file; rename one of them")


def _check_quota(storage: Storage, client: str, quota: Quota | None, root: Path,
                 sizes: dict[PurePosixPath, int]) -> None:
    """OverQuota when adding files of these sizes (replacing those of the same paths) would take the
    client's datasets over its quota."""
    if quota is None:
        return
    used, files = usage(storage, client)
    replaced = [root / path for path in sizes if (root / path).is_file()]
    after = used - sum(p.stat().st_size for p in replaced) + sum(sizes.values())
    if after > quota.bytes or files - len(replaced) + len(sizes) > quota.files:
        raise OverQuota(_over_quota(used, files, quota, f"this upload ({amount(sum(sizes.values()))})"))


def over_quota(storage: Storage, client: str, quota: Quota, size: int, known: bool = True) -> OverQuota:
    """The refusal of an upload of `size` bytes (or more, when not `known`) over the client's quota."""
    used, files = usage(storage, client)
    return OverQuota(_over_quota(used, files, quota, f"this upload ({'' if known else 'over '}{amount(size)})"))


def _over_quota(used: int, files: int, quota: Quota, what: str) -> str:
    return (f"your datasets use {amount(used)} in {files} files, and each key may keep {amount(quota.bytes)} "
            f"in {quota.files} files; {what} would go over that. Delete a dataset you no longer need "
            "(DELETE /api/datasets/NAME), or ask the server's admin for more room")


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
