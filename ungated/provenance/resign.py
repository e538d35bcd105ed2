"""Crediting a finished clip to another artist: its MP4 `artist` tag is rewritten (the streams are
copied, not re-encoded, so every frame and the watermark stay as they were) and it is signed again
with the same manifest naming the new artist. Only a clip whose manifest validates is signed again:
a file changed since it was signed never gets a fresh signature."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from pathlib import Path

from ..errors import UngatedError
from . import c2pa_manifest
from .credentials import Credentials, load

CONTAINER_TAGS = ("major_brand", "minor_version", "compatible_brands", "encoder")  # the muxer writes its own


def resign(mp4: Path, artist: str, credentials: Credentials | None = None,
           ingredient_file: Callable[[str], Path | None] = lambda video_id: None) -> None:
    """Credit the clip at mp4 to artist ("": to no one), replacing the file in one step. A clip
    made of others (a storyboard's) lists them again, each found by ingredient_file(its video id);
    where one is gone, the clip as it was is listed instead, as the parent whose manifest lists them."""
    import av

    if not mp4.is_file():
        raise UngatedError(f"{mp4.name} is not there, so it was not signed again with the new artist")
    report = c2pa_manifest.read(mp4)
    if not report.found or report.state not in ("Valid", "Trusted"):
        state = "has no C2PA manifest" if not report.found else "has a C2PA manifest that does not validate"
        raise UngatedError(f"{mp4.name} {state}, so it was not signed again with the new artist")
    about = c2pa_manifest.Authorship(model=report.model, artist=artist, prompt=report.prompt, seed=report.seed,
                                     video_id=report.video_id, storyboard=report.storyboard)
    crediting = mp4.with_name(f".{mp4.stem}.{os.getpid()}-{threading.get_ident()}.crediting.mp4")
    try:
        _copy_with_artist(mp4, crediting, artist)
        c2pa_manifest.sign(crediting, about, credentials or load(), title=mp4.name,
                           ingredients=_ingredients(mp4, report, ingredient_file))
        crediting.replace(mp4)
    except av.error.FFmpegError as err:
        raise UngatedError(f"{mp4.name} could not be rewritten ({err}), so it was not signed again") from None
    finally:
        crediting.unlink(missing_ok=True)


def _ingredients(mp4: Path, report: c2pa_manifest.ManifestReport,
                 ingredient_file: Callable[[str], Path | None]) -> list[c2pa_manifest.Ingredient]:
    listed = report.ingredients
    if not listed:
        return []
    files = [ingredient_file(item["video_id"]) if item["video_id"] else None for item in listed]
    if all(path is not None and path.is_file() for path in files):
        return [c2pa_manifest.Ingredient(path, item["title"], item["video_id"], item["relationship"])
                for path, item in zip(files, listed)]
    return [c2pa_manifest.Ingredient(mp4, mp4.name, report.video_id or "", "parentOf")]


def _copy_with_artist(source: Path, target: Path, artist: str) -> None:
    import av

    with av.open(str(source)) as reading, av.open(str(target), "w", format="mp4",
                                                  options={"movflags": "faststart+use_metadata_tags"}) as writing:
        tags = {key: value for key, value in reading.metadata.items() if key not in CONTAINER_TAGS}
        tags.pop("artist", None)
        writing.metadata.update(tags | ({"artist": artist} if artist else {}))
        streams = {stream.index: writing.add_stream_from_template(stream) for stream in reading.streams
                   if stream.type in ("video", "audio")}
        for packet in reading.demux(*(reading.streams[index] for index in streams)):
            if packet.dts is None:  # the demuxer's empty flush packets
                continue
            packet.stream = streams[packet.stream.index]
            writing.mux(packet)
