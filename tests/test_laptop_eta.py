"""The laptop ETA and the `ungated models` laptop column: measured stage times (benchmarks/
bench_laptop.py) scaled to a plan and to this machine, and a clock that counts every stage of a
clip (text encoding and decoding too), corrected by the real pace of the steps."""

from __future__ import annotations

import json
import os

import pytest

from ungated.engines.open import laptop, laptop_figures
from ungated.engines.stages import ClipClock, Stages
from ungated.errors import InvalidRequest

from .test_cli import ungated

MEASURED = {"model": "ltx-video", "dtype": "bfloat16", "threads": 2, "size": [512, 320], "frames": 49,
            "steps": 40, "load_s": 10.0, "encode_s": 20.0, "step_s": 4.0, "decode_s": 30.0, "write_s": 1.0,
            "peak_rss_gb": 11.0, "clip_s": 211.0}


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_the_clock_counts_text_encoding_and_decoding_and_follows_the_real_pace():
    stages = Stages(load_s=10, encode_s=20, step_s=4, decode_s=30, write_s=2)
    time = FakeClock()
    clock = ClipClock(stages, steps=10, clips=2, clock=time)
    assert clock.left_s() == 10 + 2 * (20 + 40 + 30 + 2)  # nothing done: the whole estimate
    time.now += 10 + 20 + 4  # loading, text and the first step at the estimated pace
    clock.progress(0, 1)
    assert clock.left_s() == pytest.approx(10 + 2 * 92 - 34)
    time.now += 9 * 8  # the other nine steps twice as slow as estimated: the rest is rescaled
    clock.progress(0, 10)
    assert clock.pace == pytest.approx((34 + 72) / 70)
    left = clock.left_s()
    assert left == pytest.approx((10 + 2 * 92) * clock.pace - 106)
    assert left > (30 + 2 + 92) * 1.5  # the decode, the encode and the second clip are still ahead
    time.now += 5  # the clock ticks down between steps too (while decoding)
    assert clock.left_s() == pytest.approx(left - 5)
    time.now += 10_000
    assert clock.left_s() == 0


def test_measured_stages_scale_with_pixels_frames_and_cores(tmp_path, monkeypatch):
    figures = tmp_path / "laptop_figures.json"
    figures.write_text(json.dumps([MEASURED]))
    monkeypatch.setattr(laptop_figures, "FIGURES", figures)
    laptop_figures._figures.cache_clear()
    try:
        same = laptop_figures.estimate("ltx-video", "bfloat16", 512, 320, 49, threads=2)
        assert same == Stages(load_s=10, encode_s=20, step_s=4, decode_s=30, write_s=1)
        assert same.clip_s(40) == MEASURED["clip_s"]
        bigger = laptop_figures.estimate("ltx-video", "bfloat16", 1024, 320, 97, threads=4)  # ~4x work, 2x cores
        assert bigger.step_s == pytest.approx(4 * (2 * 97 / 49) / 2) and bigger.encode_s == 10
        assert laptop_figures.estimate("ltx-video", "float32", 512, 320, 49, threads=2) is None
        assert laptop_figures.estimate("wan2.1-t2v-1.3b", "bfloat16", 512, 320, 49, threads=2) is None
    finally:
        laptop_figures._figures.cache_clear()


def test_the_shipped_figures_cover_every_laptop_model_in_bfloat16_and_compare_float32():
    from ungated.engines.open.models import LAPTOP_SIZES

    for model_id in LAPTOP_SIZES:
        row = laptop_figures.measured(model_id, "bfloat16")
        assert row is not None, model_id
        assert row["peak_rss_gb"] < laptop.LAPTOP_GB and row["step_s"] > 0 and row["decode_s"] > 0
        assert tuple(row["size"]) == LAPTOP_SIZES[model_id]
    # Measured side by side: bfloat16 is the faster denoiser on a CPU that computes it natively.
    fp32, bf16 = laptop_figures.measured("ltx-video", "float32"), laptop_figures.measured("ltx-video", "bfloat16")
    assert fp32["step_s"] > bf16["step_s"] and fp32["size"] == bf16["size"]


def laptop_env(**more: str) -> dict[str, str]:
    return {**os.environ, "UNGATED_LAPTOP_MODE": "on", **more}


def test_models_marks_what_runs_without_a_gpu_and_how_long_a_2_second_clip_takes(tmp_path):
    result = ungated("models", cwd=tmp_path, env=laptop_env())
    assert result.returncode == 0, result.stderr
    rows = {line.split("│")[1].strip(): line for line in result.stdout.splitlines() if line.startswith("│")}
    assert "this machine" in result.stdout
    assert "yes (built in)" in rows["builtin"]
    if laptop.fast_bfloat16():
        assert "yes, bf16, ~" in rows["ltx-video"] and "yes, bf16, ~" in rows["wan2.1-t2v-1.3b-causvid"]
    else:  # float32: LTX-Video and the Wan 1.3B rows measured over a 16 GB laptop's share
        assert "no: ~21 GB" in rows["ltx-video"] and "no: ~15 GB" in rows["wan2.1-t2v-1.3b-causvid"]
    assert "no: ~29 GB" in rows["mochi-1"]
    off = ungated("models", cwd=tmp_path, env={**os.environ, "UNGATED_LAPTOP_MODE": "off"})
    assert "this machine" not in off.stdout


@pytest.mark.skipif(not laptop.fast_bfloat16(), reason="LTX-Video runs in laptop mode only where bfloat16 is fast")
def test_generate_in_laptop_mode_says_the_expected_time_of_every_stage(tiny_folders, tmp_path):
    result = ungated("generate", "a red fox running on the beach", "--model", "ltx-video", "--model-path",
                     str(tiny_folders["ltx"]), "--size", "64x64", "--seconds", "0.4", "--steps", "2", cwd=tmp_path,
                     env=laptop_env())
    assert result.returncode == 0, result.stderr
    assert "note: laptop mode (no GPU found)" in result.stderr
    assert "note: expected time about" in result.stderr and "2 steps x" in result.stderr
    assert (tmp_path / "clip.mp4").stat().st_size > 0


def test_a_measured_peak_over_the_budget_refuses_every_row_with_those_weights(tmp_path, monkeypatch):
    from ungated.engines.open.models import OPEN_MODELS

    measured = {**MEASURED, "model": "wan2.1-t2v-1.3b-causvid", "dtype": "float32", "peak_rss_gb": 15.0}
    figures = tmp_path / "laptop_figures.json"
    figures.write_text(json.dumps([measured]))
    monkeypatch.setattr(laptop_figures, "FIGURES", figures)
    laptop_figures._figures.cache_clear()
    try:
        monkeypatch.setattr(laptop, "fast_bfloat16", lambda: False)
        base = laptop.choose(OPEN_MODELS["wan2.1-t2v-1.3b"])  # the same repo: measured on its LoRA row
        assert base.peak_gb == 15.0 > laptop.peak_gb(OPEN_MODELS["wan2.1-t2v-1.3b"], "float32")
        with pytest.raises(InvalidRequest, match="needs about 15 GB of memory in float32"):
            laptop.check_fits(OPEN_MODELS["wan2.1-t2v-1.3b"], base)
        monkeypatch.setattr(laptop, "fast_bfloat16", lambda: True)  # nothing measured in bfloat16: the estimate
        assert laptop.choose(OPEN_MODELS["wan2.1-t2v-1.3b"]).peak_gb == laptop.peak_gb(OPEN_MODELS["wan2.1-t2v-1.3b"],
                                                                                          "bfloat16")
    finally:
        laptop_figures._figures.cache_clear()
