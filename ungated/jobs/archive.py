"""A client's zip archive, read with limits, since it can be built to hurt: a few KB that unpack to
gigabytes (a zip bomb), more entries than a server can list, headers that lie about sizes, entries
that share their data, paths that leave the folder, encryption or compression methods that cannot
be read. Everything that can be checked is checked before anything is unpacked, and what unpacks
is counted as it comes. Every refusal is an InvalidRequest naming `body` (or `path` for a member's
name) that says what is wrong."""

from __future__ import annotations

import lzma
import struct
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from ..errors import InvalidRequest
from .paths import client_path

MAX_FILES = 10_000  # files in one archive, frames of image sequences included
MAX_ENTRIES = 3 * MAX_FILES  # with folders and what archivers add (__MACOSX/, .DS_Store)
MAX_DIRECTORY_BYTES = 32 * 2**20  # the central directory, which zipfile reads whole into memory
MAX_UNPACKED_BYTES = 4 * 2**30  # twice the largest upload: a dataset's clips and frames barely compress
MAX_RATIO = 100  # unpacked / packed, for one member: video and images barely compress, text tenfold
RATIO_FROM = 2**20  # smaller members may compress better (a caption of repeated words)
METHODS = {zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED, zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA}
_CHUNK = 2**20
# What zipfile and the decompressors raise on a damaged archive.
_DAMAGED = (zipfile.BadZipFile, zipfile.LargeZipFile, zlib.error, lzma.LZMAError, EOFError, OSError, ValueError,
            NotImplementedError, RuntimeError, struct.error)


@dataclass(frozen=True)
class Member:
    path: PurePosixPath  # as the archive names it, checked by client_path
    size: int  # unpacked, as the archive declares it
    info: zipfile.ZipInfo


class Archive:
    """An open zip whose entries passed every check: `members` are its files (folders left out)."""

    def __init__(self, path: Path):
        _check_directory(path)
        try:
            self._zip = zipfile.ZipFile(path)
        except _DAMAGED:
            raise InvalidRequest("body", "not a zip archive") from None
        try:
            self.members = _checked(self._zip.infolist(), path.stat().st_size)
        except BaseException:
            self._zip.close()
            raise

    def __enter__(self) -> "Archive":
        return self

    def __exit__(self, *_exc) -> None:
        self._zip.close()

    def extract(self, member: Member, target: Path) -> int:
        """Unpack one member to target (a new file), counting what comes out against its declared
        size; returns the bytes written."""
        damaged = InvalidRequest("body", f"the archive is damaged: {_shown(member.path)} cannot be unpacked")
        written = 0
        try:
            source = self._zip.open(member.info)
        except _DAMAGED:
            raise damaged from None
        with source, target.open("xb") as out:  # the disk's own errors are the server's, not the archive's
            while True:
                try:
                    chunk = source.read(_CHUNK)
                except _DAMAGED:
                    raise damaged from None
                if not chunk:
                    return written
                written += len(chunk)
                if written > member.size:
                    raise InvalidRequest("body", f"{_shown(member.path)} unpacks to more than the "
                                                 f"{amount(member.size)} its header says")
                out.write(chunk)


def _check_directory(path: Path) -> None:
    """Refuse an archive whose end record declares more entries, or a larger directory, than we
    list: zipfile would read them all into memory before anyone could count them."""
    with path.open("rb") as file:
        size = file.seek(0, 2)
        start = max(0, size - 65_557)  # the end record (22 bytes) and the longest comment
        file.seek(start)
        tail = file.read()
        at = tail.rfind(b"PK\x05\x06")
        if at < 0 or at + 22 > len(tail):
            return  # not a zip: zipfile says so
        entries, directory = struct.unpack_from("<HI", tail, at + 10)
        if (entries == 0xFFFF or directory == 0xFFFFFFFF) and at >= 20 and tail[at - 20:at - 16] == b"PK\x06\x07":
            file.seek(struct.unpack_from("<Q", tail, at - 12)[0])  # the zip64 end record holds the real counts
            record = file.read(56)
            if len(record) == 56 and record[:4] == b"PK\x06\x06":
                entries, directory = struct.unpack_from("<QQ", record, 32)
    if entries > MAX_ENTRIES:
        raise InvalidRequest("body", f"the archive lists {entries} entries; at most {MAX_FILES} files")
    if directory > MAX_DIRECTORY_BYTES:
        raise InvalidRequest("body", f"the archive's list of files is over {MAX_DIRECTORY_BYTES // 2**20} MB")


def _checked(infos: list[zipfile.ZipInfo], archive_bytes: int) -> list[Member]:
    files = [info for info in infos if not info.is_dir()]
    if len(files) > MAX_FILES:
        raise InvalidRequest("body", f"the archive holds {len(files)} files; at most {MAX_FILES} files")
    if sum(info.compress_size for info in infos) > archive_bytes:
        raise InvalidRequest("body", "the archive's entries share their data (a zip bomb's trick)")
    members, seen = [], set()
    for info in files:
        path = client_path(info.filename)
        if path in seen:
            raise InvalidRequest("body", f"the archive holds {_shown(path)} twice")
        seen.add(path)
        if info.flag_bits & 0x1:
            raise InvalidRequest("body", f"{_shown(path)} is encrypted; zip it again without a password")
        if info.compress_type not in METHODS:
            raise InvalidRequest("body", f"{_shown(path)} is compressed with method {info.compress_type}, which "
                                         "ungated does not read; use plain zip (deflate) compression")
        if info.file_size > RATIO_FROM and info.file_size > MAX_RATIO * max(1, info.compress_size):
            raise InvalidRequest("body", f"{_shown(path)} would unpack to {amount(info.file_size)} from "
                                         f"{amount(info.compress_size)}; a file may unpack to at most {MAX_RATIO} "
                                         "times its compressed size (this looks like a zip bomb)")
        members.append(Member(path, info.file_size, info))
    unpacked = sum(member.size for member in members)
    if unpacked > MAX_UNPACKED_BYTES:
        raise InvalidRequest("body", f"the archive unpacks to {amount(unpacked)}; at most "
                                     f"{amount(MAX_UNPACKED_BYTES)}")
    return members


def amount(size: int) -> str:
    """A number of bytes as people read it: 512 bytes, 2.0 KB, 3.5 MB, 10.0 GB."""
    for unit, scale in (("GB", 2**30), ("MB", 2**20), ("KB", 2**10)):
        if size >= scale:
            return f"{size / scale:.1f} {unit}"
    return f"{size} bytes"


def _shown(path: PurePosixPath) -> str:
    return repr(str(path))
