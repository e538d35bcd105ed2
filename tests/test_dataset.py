"""`ungated dataset check`: a folder of clips with one of each planted problem, found by file."""

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from ungated.engines.catalog import get_engine
from ungated.media.encode import Mp4Writer
from ungated.train.buckets import Bucket, plan_buckets
from ungated.train.dataset import scan

from .fake_engines import ONE_SIZE
from .test_cli import ungated


def _mp4(path: Path, frames: int, size: tuple[int, int] = (96, 64), fps: int = 8) -> None:
    with Mp4Writer(path, *size, fps) as writer:
        for i in range(frames):
            writer.write(np.full((size[1], size[0], 3), (i * 15) % 255, dtype=np.uint8))


def _frames(folder: Path, count: int, size: tuple[int, int]) -> None:
    folder.mkdir()
    for i in range(count):
        Image.new("RGB", size, (i * 20, 40, 90)).save(folder / f"{i:04d}.png")


def _gif(path: Path, count: int, size: tuple[int, int]) -> None:
    images = [Image.new("RGB", size, (i * 20, 200, 10)) for i in range(count)]
    images[0].save(path, save_all=True, append_images=images[1:], duration=125, loop=0)


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("clips")
    # Clips that are fine, captioned each way the formats allow.
    _mp4(root / "good.mp4", 16)
    (root / "good.txt").write_text("a red kite over a beach\n")
    _gif(root / "anim.gif", 12, (80, 64))
    _mp4(root / "from-csv.mp4", 24, fps=12)
    _frames(root / "seq", 30, (64, 64))
    (root / "seq.txt").write_text("a slow pan across a city at night")
    # One of each problem.
    (root / "broken.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42 this is not a video")
    (root / "broken.txt").write_text("never read")
    _mp4(root / "nocap.mp4", 16)
    _mp4(root / "short.mp4", 4)
    (root / "short.txt").write_text("too short to learn motion from")
    _frames(root / "odd", 30, (65, 64))
    (root / "odd.txt").write_text("odd width")
    _gif(root / "tiny.gif", 12, (32, 32))
    (root / "tiny.txt").write_text("tiny")
    _mp4(root / "empty.mp4", 16)
    (root / "empty.txt").write_text("  \n")
    (root / "orphan.txt").write_text("a caption whose clip was deleted")
    (root / "metadata.jsonl").write_text(
        json.dumps({"file_name": "anim.gif", "text": "green flashes"}) + "\n"
        + json.dumps({"file_name": "missing.mp4", "text": "gone"}) + "\n"
        + "{not json\n"
    )
    (root / "metadata.csv").write_text("video,caption\nfrom-csv.mp4,\"waves, slowly\"\n")
    return root


def test_every_planted_problem_is_found_with_its_file(dataset):
    report = scan(dataset)
    found = {(p.path, p.what.split(":")[0].split(" (")[0]) for p in report.problems}
    assert found == {
        ("broken.mp4", "unreadable"),
        ("nocap.mp4", "no caption"),
        ("short.mp4", "too short"),
        ("odd", "odd size"),
        ("tiny.gif", "too small"),
        ("empty.mp4", "empty caption"),
        ("orphan.txt", "a caption for no clip"),
        ("metadata.jsonl line 2", "names missing.mp4, which is not in the folder"),
        ("metadata.jsonl line 3", "not a JSON object"),
    }
    clips = {c.path: c for c in report.clips}
    assert set(clips) == {"good.mp4", "anim.gif", "from-csv.mp4", "seq"}
    assert clips["good.mp4"].caption == "a red kite over a beach" and clips["good.mp4"].frames == 16
    assert clips["anim.gif"].caption == "green flashes" and clips["anim.gif"].frames == 12
    assert clips["from-csv.mp4"].caption == "waves, slowly" and clips["from-csv.mp4"].fps == 12
    assert clips["seq"].kind == "frames" and clips["seq"].frames == 30
    summary = report.summary()
    assert summary["clips"] == 4 and summary["seconds_min"] == 1.25 and summary["sizes"]["96x64"] == 2


def test_the_command_prints_problems_and_a_summary_and_exits_1(dataset, tmp_path):
    result = ungated("dataset", "check", str(dataset), cwd=tmp_path)
    assert result.returncode == 1
    for name in ("broken.mp4", "nocap.mp4", "short.mp4", "tiny.gif", "orphan.txt", "metadata.jsonl line 2"):
        assert name in result.stdout
    assert "4 clips ready" in result.stdout and "96x64 (2)" in result.stdout
    as_json = json.loads(ungated("dataset", "check", str(dataset), "--json", cwd=tmp_path).stdout)
    assert as_json["summary"]["problems"] == 9 and len(as_json["clips"]) == 4


def test_a_clean_folder_exits_0_and_a_missing_one_is_one_line(tmp_path):
    clean = tmp_path / "clean"
    clean.mkdir()
    _mp4(clean / "a.mp4", 16)
    (clean / "a.txt").write_text("a")
    assert ungated("dataset", "check", str(clean), cwd=tmp_path).returncode == 0
    missing = ungated("dataset", "check", str(tmp_path / "nope"), cwd=tmp_path)
    assert missing.returncode != 0 and len(missing.stderr.strip().splitlines()) == 1 and "FOLDER" in missing.stderr


def test_clips_are_planned_into_each_models_buckets(dataset, tmp_path):
    clips = scan(dataset).clips
    wan = get_engine("wan2.1-t2v-1.3b").capabilities  # 832x480 or 480x832, 4N+1 frames, 16 fps
    buckets, unfit = plan_buckets(clips, wan)
    planned = {c.path: b for b, group in buckets.items() for c in group}
    # good.mp4: 2 s at 16 fps is 32 frames; the longest 4N+1 count within them is 29.
    assert planned["good.mp4"] == Bucket(832, 480, 29, 16) and planned["seq"] == Bucket(832, 480, 17, 16)
    assert not unfit
    buckets, unfit = plan_buckets(clips, ONE_SIZE)  # exactly 16 frames at 8 fps
    assert {c.path for group in buckets.values() for c in group} == {"good.mp4", "from-csv.mp4"}
    assert {p.path for p in unfit} == {"anim.gif", "seq"} and all("too short" in p.what for p in unfit)
    result = ungated("dataset", "check", str(dataset), "--model", "wan2.1-t2v-1.3b", "--json", cwd=tmp_path)
    assert {b["frames"] for b in json.loads(result.stdout)["buckets"]} == {29, 21, 17}
    # builtin: the clip model `train builtin --data` would train, at the clips' aspect.
    result = ungated("dataset", "check", str(dataset), "--model", "builtin", "--json", cwd=tmp_path)
    assert {(b["width"], b["height"], b["fps"]) for b in json.loads(result.stdout)["buckets"]} == {(112, 64, 8)}
    unknown = ungated("dataset", "check", str(dataset), "--model", "nope", cwd=tmp_path)
    assert unknown.returncode != 0 and "--model" in unknown.stderr


def test_the_demo_dataset_is_ten_captioned_clips_that_check_clean(tmp_path):
    made = ungated("dataset", "demo", "clips", cwd=tmp_path)
    assert made.returncode == 0, made.stderr
    report = json.loads(ungated("dataset", "check", "clips", "--json", cwd=tmp_path).stdout)
    assert report["summary"]["clips"] == 10 and report["summary"]["problems"] == 0
    assert report["summary"]["sizes"] == {"256x144": 10} and report["summary"]["seconds_min"] == 3.0
    again = ungated("dataset", "demo", "clips", cwd=tmp_path)  # never over a folder with files in it
    assert again.returncode == 2 and "not an empty folder" in again.stderr
