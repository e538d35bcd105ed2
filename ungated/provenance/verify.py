"""What a file says about where it came from: its C2PA manifest and whether it validates, the
invisible watermark (and the video record it points to, when the store knows it), and the MP4's
own metadata. Used by `ungated verify`, POST /api/verify and the studio's provenance badge."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

from ..errors import InvalidRequest
from . import c2pa_manifest, watermark


@dataclass
class Verification:
    manifest: c2pa_manifest.ManifestReport
    watermark: watermark.Detection
    watermark_id: str | None  # the mark as hex
    videos: list[str]  # records in the store the mark points to
    metadata: dict[str, str]

    @property
    def verdict(self) -> str:
        """signed (the manifest validates), tampered (it does not), or unsigned (there is none)."""
        if not self.manifest.found:
            return "unsigned"
        return "signed" if self.manifest.state in ("Valid", "Trusted") else "tampered"

    def as_dict(self) -> dict:
        report = asdict(self)
        report["verdict"] = self.verdict
        return report


VIDEO_FORMATS = ("mov", "mp4", "matroska", "webm")  # as FFmpeg names the demuxers


def check_video(path: Path) -> None:
    """Raise InvalidRequest unless path is an MP4, MOV, MKV or WebM with a video stream."""
    import av

    try:
        with av.open(str(path)) as container:
            formats = set(container.format.name.split(","))
            if not formats & set(VIDEO_FORMATS) or not container.streams.video:
                raise InvalidRequest("file", "not a video with a video stream (MP4, MOV, MKV or WebM)")
    except av.error.FFmpegError:
        raise InvalidRequest("file", "not a video ungated can read (MP4, MOV, MKV or WebM)") from None


def verify(path: Path, find_videos=None) -> Verification:
    """find_videos: id prefix -> matching video ids (from a store), or None."""
    import av

    from ..media.encode import read_metadata

    manifest = c2pa_manifest.read(path)
    try:
        metadata = read_metadata(path)
        detection = watermark.detect(path)
    except (av.error.FFmpegError, IndexError) as err:
        metadata, detection = {"error": f"not a video ungated can read ({err})"}, watermark.Detection(None, 0, 0)
    mark = None if detection.mark is None else f"{detection.mark:08x}"
    videos = find_videos(watermark.id_prefix(detection.mark)) if find_videos and detection.mark is not None else []
    return Verification(manifest, detection, mark, videos, metadata)


EXPLAINED = {  # a manifest's validation state, as --json gives it, explained
    "Trusted": "the file matches its signature, and the certificate chains to a CA you trust (this machine's "
               "ungated CA included)",
    "Valid": "the file matches its signature; the certificate's CA is not in your trust list",
}


def describe(result: Verification) -> list[str]:
    """The report as lines for a person, in the words --json uses: the verdict, then the manifest's
    validation state (Trusted, Valid or Invalid)."""
    m = result.manifest
    lines = [f"verdict: {result.verdict}"]
    if not m.found:
        lines.append("C2PA: none (this file has no manifest)")
    elif result.verdict == "tampered":
        lines.append(f"C2PA: {m.state}: the file was changed after it was signed, or the signature is bad")
        lines += [f"  {problem}" for problem in m.problems]
    else:
        lines.append(f"C2PA: {m.state}: {EXPLAINED[m.state]}; certificate: {m.signed_by or 'unnamed'}")
    if m.found:
        lines.append(f"  made with an AI model: {'yes' if m.ai_generated else 'not stated'}")
        lines.append(f"  artist: {m.artist or 'not credited'}")
        lines.append(f"  generator: {m.generator or 'unknown'}, model {m.model or 'unknown'}")
        lines.append(f"  prompt: {m.prompt!r}, seed {m.seed}" if m.prompt is not None else "  prompt: kept private by the artist")
    w = result.watermark
    if result.watermark_id:
        where = f"; video {', '.join(result.videos)}" if result.videos else ""
        lines.append(f"watermark: found, id {result.watermark_id} ({w.frames_agreeing} of {w.frames_checked} frames{where})")
    else:
        lines.append(f"watermark: none found ({w.frames_checked} frames checked)")
    if result.metadata:
        lines.append("MP4 metadata: " + ", ".join(f"{key}={value!r}" for key, value in sorted(result.metadata.items())))
    return lines
