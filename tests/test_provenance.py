"""Provenance: clips are signed with a C2PA manifest that credits the artist and says an AI model
made them, carry an invisible watermark that survives re-encoding, and `verify` reports both."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import av
import numpy as np
import pytest

from ungated.generate import generate_clips
from ungated.media.encode import Mp4Writer
from ungated.provenance import credentials, watermark
from ungated.provenance.verify import verify
from ungated.request import Request, plan

PROMPT = "a large yellow star bouncing on a purple background"
VIDEO_ID = "video_5eed1e55" + "0" * 24


def make_clip(engine, folder: Path, **provenance) -> Path:
    request = Request.build(prompt=PROMPT, seed=3, provenance=provenance)
    the_plan = plan(request, engine.capabilities, engine.id)
    path = folder / "clip.mp4"
    generate_clips(engine, the_plan, [path], lambda *a: None, artist="Ada", video_ids=[VIDEO_ID])
    return path


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> Path:
    from ungated.engines.builtin.engine import BuiltinEngine

    return make_clip(BuiltinEngine(), tmp_path_factory.mktemp("clip"))


def test_a_clip_is_signed_and_marked_and_verify_says_so(clip):
    report = verify(clip)
    assert report.verdict == "signed" and report.manifest.state == "Trusted"
    m = report.manifest
    assert m.ai_generated and m.artist == "Ada" and m.model == "builtin" and m.generator.startswith("ungated ")
    assert m.prompt == PROMPT and m.seed == 3 and m.video_id == VIDEO_ID
    assert report.watermark.mark == watermark.mark_id(VIDEO_ID) and report.watermark_id == "5eed1e55"
    assert report.metadata["artist"] == "Ada"


def test_changing_one_byte_of_video_data_fails_verification(clip, tmp_path):
    data = bytearray(clip.read_bytes())
    data[data.find(b"mdat") + 1000] ^= 0x01
    changed = tmp_path / "changed.mp4"
    changed.write_bytes(bytes(data))
    report = verify(changed)
    assert report.verdict == "tampered"
    assert any("mismatch" in problem for problem in report.manifest.problems)
    done = subprocess.run([sys.executable, "-m", "ungated", "verify", str(changed)], capture_output=True, text=True)
    assert done.returncode == 1
    assert done.stdout.splitlines()[:2] == ["verdict: tampered", "C2PA: Invalid: the file was changed after it was "
                                                                  "signed, or the signature is bad"]


def test_verify_says_what_its_json_says(clip):
    import json

    plain = subprocess.run([sys.executable, "-m", "ungated", "verify", str(clip)], capture_output=True, text=True)
    as_json = json.loads(subprocess.run([sys.executable, "-m", "ungated", "verify", "--json", str(clip)],
                                        capture_output=True, text=True).stdout)
    assert (as_json["verdict"], as_json["manifest"]["state"]) == ("signed", "Trusted")
    lines = plain.stdout.splitlines()
    assert lines[0] == "verdict: signed"
    assert lines[1].startswith("C2PA: Trusted: the file matches its signature") and "valid" not in plain.stdout


def reencode(source: Path, target: Path, crf: int) -> Path:
    with av.open(str(source)) as container:
        frames = [frame.to_ndarray(format="rgb24") for frame in container.decode(video=0)]
    with Mp4Writer(target, frames[0].shape[1], frames[0].shape[0], 8, crf=crf) as writer:
        for frame in frames:
            writer.write(frame)
    return target


def test_the_watermark_survives_a_reencode(clip, tmp_path):
    again = reencode(clip, tmp_path / "again.mp4", crf=23)
    assert verify(again).verdict == "unsigned"  # a re-encode drops the manifest ...
    assert watermark.detect(again).mark == watermark.mark_id(VIDEO_ID)  # ... the watermark stays


def test_a_flat_background_carries_the_same_mark_in_every_frame():
    """No shimmer: a still, flat frame comes out the same in every frame, each carrying the mark
    (the embedding runs on every MARK_EVERY-th frame; the others carry its residual)."""
    from imwatermark import WatermarkDecoder

    marker, mark = watermark.Marker(0x1234ABCD), 0x1234ABCD
    flat = np.full((256, 320, 3), (90, 40, 160), np.uint8)
    out = [marker(index, flat.copy()) for index in range(2 * watermark.MARK_EVERY)]
    assert np.abs(out[0].astype(int) - flat).max() > 0  # it is marked
    assert all(np.array_equal(frame, out[0]) for frame in out[1:])
    decoder = WatermarkDecoder("bits", watermark.ID_BITS + watermark.CRC_BITS)
    for frame in out[1:watermark.MARK_EVERY]:  # frames the embedding did not run on
        bits = decoder.decode(np.ascontiguousarray(frame[..., ::-1]), watermark.METHOD, scales=watermark.SCALES)
        assert watermark._mark_of(list(bits)) == mark


def test_an_unmarked_clip_has_no_watermark(tmp_path):
    rng = np.random.default_rng(0)
    path = tmp_path / "plain.mp4"
    with Mp4Writer(path, 480, 480, 8) as writer:
        base = rng.integers(0, 255, (480, 480, 3), dtype=np.uint8)
        for i in range(16):
            writer.write(np.roll(base, 4 * i, axis=1))
    assert watermark.detect(path).mark is None


def test_the_artist_decides_what_is_published(tmp_path):
    from ungated.engines.builtin.engine import BuiltinEngine

    private = make_clip(BuiltinEngine(), tmp_path, publish_prompt=False, watermark=False,
                        mark_text="Ada", mark_corner="top-left", mark_opacity=1.0)
    report = verify(private)
    assert report.verdict == "signed" and report.manifest.prompt is None and report.manifest.seed is None
    assert "prompt" not in report.metadata and "seed" not in report.metadata
    assert report.watermark.mark is None
    with av.open(str(private)) as container:
        first = next(container.decode(video=0)).to_ndarray(format="rgb24")
    corner, rest = first[:40, :100], first[-40:, -100:]
    assert corner.max() > 240 and corner.min() < 30  # white text with a dark outline, top left
    assert rest.std() < corner.std()


def test_signing_keys_are_private_and_never_shown(isolated_home, clip, tmp_path):
    folder = credentials.folder()
    for key in ("ca.key", "signer.key"):
        assert (folder / key).stat().st_mode & 0o777 == 0o600
    secret = (folder / "signer.key").read_text().splitlines()[1]
    assert secret not in repr(credentials.load())

    from .service import Server

    import httpx

    server = Server(tmp_path, f"sqlite:///{tmp_path / 'store.db'}").start()
    try:
        api = httpx.Client(base_url=server.base, timeout=60)
        video = api.post("/api/videos", json={"prompt": PROMPT, "seed": 3}).json()["data"][0]
        while api.get(f"/api/videos/{video['id']}").json()["status"] != "completed":
            pass
        answers = [api.get(f"/api/videos/{video['id']}/provenance"), api.get(f"/api/videos/{video['id']}"),
                   api.post("/api/verify", files={"file": ("clip.mp4", clip.read_bytes(), "video/mp4")})]
        badge = answers[0].json()
        assert badge["verdict"] == "signed" and badge["watermark_id"] == video["id"][6:14]
        assert badge["videos"] == [video["id"]]
        assert answers[2].json()["verdict"] == "signed"
        server_keys = [line for key in ("ca.key", "signer.key")
                       for line in (tmp_path / "provenance" / key).read_text().splitlines()[1:-1]]
        shown = "".join(answer.text for answer in answers) + (tmp_path / "serve.log").read_text()
        assert "PRIVATE KEY" not in shown and not any(line in shown for line in server_keys)
    finally:
        server.stop()
    assert os.environ["UNGATED_HOME"] == str(isolated_home)


def test_a_logo_can_be_the_visible_mark(tmp_path):
    from PIL import Image

    from ungated.engines.builtin.engine import BuiltinEngine

    logo = tmp_path / "logo.png"
    Image.new("RGBA", (64, 64), (255, 200, 0, 255)).save(logo)
    engine = BuiltinEngine()
    request = Request.build(prompt=PROMPT, seed=3, steps=4, provenance={"mark_corner": "top-right",
                                                                        "mark_opacity": 1.0})
    path = tmp_path / "logo.mp4"
    generate_clips(engine, plan(request, engine.capabilities, engine.id), [path], lambda *a: None, mark_image=logo)
    with av.open(str(path)) as container:
        first = next(container.decode(video=0)).to_ndarray(format="rgb24")
    r, g, b = first[30, -40].astype(int)  # inside the logo, 60 px square in the top-right corner
    assert r > 220 and 160 < g < 230 and b < 60


def test_resigning_credits_the_new_artist_and_keeps_every_frame(clip, tmp_path):
    from ungated.errors import UngatedError
    from ungated.provenance.resign import resign

    copy = tmp_path / "clip.mp4"
    copy.write_bytes(clip.read_bytes())
    resign(copy, "Ada L.")
    before, after = verify(clip), verify(copy)
    assert after.verdict == "signed" and after.manifest.state == "Trusted"
    assert after.manifest.artist == "Ada L." and after.metadata["artist"] == "Ada L."
    for field in ("ai_generated", "model", "prompt", "seed", "video_id"):
        assert getattr(after.manifest, field) == getattr(before.manifest, field), field
    assert after.watermark_id == before.watermark_id
    assert {k: v for k, v in after.metadata.items() if k != "artist"} == \
        {k: v for k, v in before.metadata.items() if k != "artist"}
    with av.open(str(clip)) as first, av.open(str(copy)) as second:
        for a, b in zip(first.decode(video=0), second.decode(video=0), strict=True):
            assert np.array_equal(a.to_ndarray(format="rgb24"), b.to_ndarray(format="rgb24"))

    resign(copy, "")
    assert verify(copy).manifest.artist == "" and "artist" not in verify(copy).metadata

    data = bytearray(clip.read_bytes())
    data[data.find(b"mdat") + 1000] ^= 0x01
    changed = tmp_path / "changed.mp4"
    changed.write_bytes(bytes(data))
    with pytest.raises(UngatedError, match="does not validate, so it was not signed again"):
        resign(changed, "Mallory")
    assert changed.read_bytes() == bytes(data)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["changed.mp4", "clip.mp4"]


def test_changing_the_artist_of_a_video_signs_its_clip_again(tmp_path):
    import httpx

    from .service import Server

    server = Server(tmp_path, f"sqlite:///{tmp_path / 'store.db'}").start()
    try:
        api = httpx.Client(base_url=server.base, timeout=60)
        api.put("/api/me", json={"artist": "Ada"})
        video = api.post("/api/videos", json={"prompt": PROMPT, "seed": 3, "steps": 4}).json()["data"][0]
        deadline = time.monotonic() + 120
        while api.get(f"/api/videos/{video['id']}").json()["status"] != "completed":
            assert time.monotonic() < deadline, "the video was not made within 120 s"
            time.sleep(0.2)
        assert api.get(f"/api/videos/{video['id']}/provenance").json()["manifest"]["artist"] == "Ada"
        changed = api.patch(f"/api/videos/{video['id']}", json={"artist": "Ada Lovelace"})
        assert changed.status_code == 200 and changed.json()["artist"] == "Ada Lovelace"
        report = api.get(f"/api/videos/{video['id']}/provenance").json()
        assert report["verdict"] == "signed" and report["manifest"]["state"] == "Trusted"
        assert report["manifest"]["artist"] == "Ada Lovelace" and report["metadata"]["artist"] == "Ada Lovelace"
        assert report["videos"] == [video["id"]]
        stored = api.get(f"/v1/videos/{video['id']}/content").content
    finally:
        server.stop()
    (tmp_path / "download.mp4").write_bytes(stored)
    done = subprocess.run([sys.executable, "-m", "ungated", "verify", str(tmp_path / "download.mp4")],
                          capture_output=True, text=True, env={**os.environ, "UNGATED_HOME": str(tmp_path)})
    assert done.returncode == 0, done.stderr
    assert "C2PA: Trusted" in done.stdout and "  artist: Ada Lovelace" in done.stdout
