"""Paths that cross the line between clients and the server's disk, both ways: the one check of a
relative path a client sends (a file of a dataset in a URL, an archive member's name, a run's file),
and the rewrite of server paths in messages into the names a member knows ("dataset 'shots'")."""

from __future__ import annotations

import re
from pathlib import Path, PurePosixPath

from ..errors import InvalidRequest

MAX_NAME = 200  # characters in one file or folder name
MAX_PATH = 1000  # characters in the whole path
_FORBIDDEN = re.compile(r"[\x00-\x1f\x7f\\:]")  # control characters; Windows separators, drives and streams


def client_path(relative: str, field: str = "path") -> PurePosixPath:
    """A relative path as a client sends it, checked to stay inside the folder it is relative to:
    names joined by '/', none empty, '.' or '..'; no control characters, backslashes or ':' (a
    drive letter on Windows), nothing over MAX_NAME a name or MAX_PATH in all."""
    shown = repr(relative[:60] + ("..." if len(relative) > 60 else ""))
    if not relative:
        raise InvalidRequest(field, "a file name is needed")
    if len(relative) > MAX_PATH:
        raise InvalidRequest(field, f"{shown}: a path of at most {MAX_PATH} characters")
    if relative.startswith("/"):
        raise InvalidRequest(field, f"{shown}: a path inside the folder, not one from the top of the disk")
    if found := _FORBIDDEN.search(relative):
        what = "a backslash" if found[0] == "\\" else "a ':'" if found[0] == ":" else "a control character"
        raise InvalidRequest(field, f"{shown} has {what}; names are letters, digits, spaces and punctuation, "
                                    "with '/' between a folder and its files")
    names = relative.split("/")
    if any(name in ("", ".", "..") for name in names):
        raise InvalidRequest(field, f"{shown}: folder and file names joined by single '/'s (no '.' or '..')")
    if any(len(name) > MAX_NAME for name in names):
        raise InvalidRequest(field, f"{shown}: a file or folder name of at most {MAX_NAME} characters")
    return PurePosixPath(relative)


def in_member_terms(message: str, root: Path) -> str:
    """The message with each path under the storage root said as a member knows it: "dataset
    'shots'", "'seq/0001.png' in dataset 'shots'", "the input file", "the run's file 'work/...'";
    any other is "a file on the server". Paths elsewhere (an admin's data_path) are left as they are."""
    pattern = re.escape(str(root).rstrip("/")) + r"(?P<rest>/[^\s'\"]*)?(?![^\s'\"/])"

    def said(found: re.Match) -> str:
        rest = (found["rest"] or "").strip("/")
        trailing = re.search(r"[.,;:)\]]*$", rest)[0]  # a sentence's punctuation is not the path's
        rest = rest[:len(rest) - len(trailing)] if trailing else rest
        return _member_name(PurePosixPath(rest).parts) + trailing

    return re.sub(pattern, said, message)


def _member_name(parts: tuple[str, ...]) -> str:
    match parts:
        case ("datasets", _client, name):
            return f"dataset '{name}'"
        case ("datasets", _client, name, *inside):
            return f"'{'/'.join(inside)}' in dataset '{name}'"
        case ("inputs", *_):
            return "the input file"
        case ("trainings", _run):
            return "the run's folder"
        case ("trainings", _run, *inside):
            return f"the run's file '{'/'.join(inside)}'"
        case ("videos", *_):
            return "the video's file"
        case ("loras", name, *_):
            return f"LoRA '{name.removesuffix('.safetensors').removesuffix('.json')}'"
        case ("models", name, *_):
            return f"model 'builtin/{name}'"
    return "a file on the server"
