"""`ungated eval builtin` and its evaluate module: per set of clips, through the engine's own
request path, on a tiny untrained model (there is nothing to learn here, only plumbing)."""

import dataclasses
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from ungated.engines.builtin import evaluate
from ungated.errors import UngatedError

PROMPT = "a small red circle moving right on a blue background"


def ungated(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "ungated", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=300, check=False)


@pytest.mark.parametrize("name", ["1:1", "16:9"])
def test_a_set_is_generated_at_its_own_size_length_and_rate(tiny_engine, name):
    clips = evaluate.SETS[name]
    frames = np.stack(list(evaluate.generate(tiny_engine, PROMPT, 1, clips)))
    assert frames.shape == (clips.frames, clips.height, clips.width, 3) and frames.dtype == np.uint8


def test_an_engine_that_cannot_draw_a_set_is_refused_rather_than_misjudged(tiny_engine):
    tiny_engine.capabilities = dataclasses.replace(tiny_engine.capabilities, any_aspect=False, sizes=((64, 64),))
    with pytest.raises(UngatedError, match=r"does not draw the 16:9 set's clips \(256x144, 10 s at 24 fps\)"):
        evaluate.generate(tiny_engine, PROMPT, 1, evaluate.SETS["16:9"])


def test_a_set_scores_the_model_and_both_baselines(tiny_engine, tiny_model_dir):
    from ungated.engines.builtin.engine import BuiltinEngine

    progress = []
    results = evaluate.evaluate_set(tiny_engine, BuiltinEngine(tiny_model_dir), evaluate.SETS["1:1"], 4, seed=2,
                                    on_clip=lambda which, done, total: progress.append((which, done, total)))
    assert list(results) == ["model", "shuffled captions", "untrained model"]
    for table in results.values():
        assert {"background", "single color", "single motion", "single exact", "pair exact", "stability"} <= set(table)
        assert all(0 <= v <= 1 for v in table.values())
    assert progress == [(w, i, 4) for w in ("model", "untrained model") for i in range(1, 5)]
    line = evaluate.summary(evaluate.SETS["1:1"], 4, results)
    assert line.startswith("1:1 (64x64, 2 s at 8 fps, 4 prompts): exact one object ")
    assert "shuffled captions" in line and "untrained model" in line and "\n" not in line


def test_eval_builtin_prints_scores_per_set_as_json(tmp_path, tiny_model_dir):
    done = ungated("eval", "builtin", "--model-path", str(tiny_model_dir), "--set", "1:1", "--prompts", "4", "--json",
                   cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert (out["prompts"], out["seed"], list(out["sets"])) == (4, 0, ["1:1"])
    square = out["sets"]["1:1"]
    assert (square["width"], square["height"], square["seconds"], square["fps"]) == (64, 64, 2, 8)
    assert set(square["scores"]) == {"model", "shuffled captions", "untrained model"}
    for table in square["scores"].values():
        assert {"background", "single color", "single motion", "single exact", "stability"} <= set(table)


def test_eval_builtin_prints_a_table_and_a_summary_line_per_set(tmp_path, tiny_model_dir):
    done = ungated("eval", "builtin", "--model-path", str(tiny_model_dir), "--set", "1:1", "--prompts", "4",
                   cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "pair relation" in done.stdout or "single exact" in done.stdout
    assert done.stdout.strip().splitlines()[-1].startswith("1:1 (64x64, 2 s at 8 fps, 4 prompts): exact one object")


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--prompts", "2"], "error: --prompts: must be between 4 and 512 (got 2)"),
        (["--set", "4:3"], "error: --set: must be one of 1:1, 16:9, 9:16 (got '4:3')"),
        (["--model-path", "nowhere"], "error: --model-path: folder 'nowhere' does not exist"),
    ],
)
def test_eval_builtin_bad_input_is_one_line(tmp_path, args, expected):
    done = ungated("eval", "builtin", *args, cwd=tmp_path)
    assert done.returncode != 0 and done.stderr.strip() == expected and not list(tmp_path.iterdir())
