"""The real `ungated` command in a subprocess, as a user runs it."""

import subprocess
import sys
from pathlib import Path

import av
import pytest


def ungated(*args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "ungated", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=300, env=env)


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--seconds", "50"], "error: --seconds: input should be less than or equal to 20 (got 50.0)"),
        (["--aspect", "4:3"], "error: --aspect: input should be '16:9', '9:16' or '1:1' (got '4:3')"),
        (["--size", "100x7"], "error: --size: height must be an even number from 64 to 1920 (got '100x7')"),
        (["--variants", "0"], "error: --variants: input should be greater than or equal to 1 (got 0)"),
        (["--model", "nope"], "error: --model: unknown model 'nope'; choose one of: builtin"),
        (["--seconds", "soon"], "error: Invalid value for '--seconds'"),
        (["-o", "clip.avi"], "error: --output: must end in .mp4 (got 'clip.avi')"),
        (["-o", "missing/clip.mp4"], "error: --output: folder 'missing' does not exist"),
        (["--frobnicate"], "error: No such option: --frobnicate"),
        (["--model-path", "nowhere"], "error: --model-path: folder 'nowhere' does not exist"),
    ],
)
def test_bad_input_is_one_line_nonzero_and_writes_nothing(tmp_path, args, expected):
    result = ungated("generate", "a red circle", *args, cwd=tmp_path)
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(expected)
    assert "Traceback" not in result.stderr
    assert list(tmp_path.iterdir()) == []


def test_missing_prompt_is_one_line(tmp_path):
    result = ungated("generate", cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip() == "error: Missing argument 'prompt'."


def test_generate_writes_a_playable_mp4_and_names_it(tmp_path):
    result = ungated("generate", "a large green square moving left on a black background", "-o", "clip.mp4",
                     "--seed", "1", "--steps", "4", "--resolution", "360p", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    last = result.stdout.strip().splitlines()[-1]
    assert last.startswith("wrote clip.mp4 (360x360, 2 s at 8 fps, seed 1)")
    with av.open(str(tmp_path / "clip.mp4")) as container:
        assert sum(1 for _ in container.decode(video=0)) == 16
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clip.mp4", "clip.sprites.jpg", "clip.thumb.jpg"]


def test_variants_and_adjustments_are_reported(tmp_path):
    result = ungated("generate", "a red star spinning on a white background", "-o", "v.mp4", "--variants", "2",
                     "--aspect", "16:9", "--steps", "2", "--seed", "9", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "note: size 854x480 -> 480x480" in result.stderr
    assert "seed 9, 10" in result.stdout
    assert {"v-1.mp4", "v-2.mp4"} <= {p.name for p in tmp_path.iterdir()}


def test_model_path_reads_weights_from_a_folder(tmp_path, tiny_model_dir):
    result = ungated("generate", "a red circle standing still on a blue background", "--model-path",
                     str(tiny_model_dir), "--steps", "2", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "clip.mp4").is_file()

    empty = tmp_path / "empty"
    empty.mkdir()
    result = ungated("generate", "a red circle", "--model-path", str(empty), "-o", "other.mp4", cwd=tmp_path)
    assert result.returncode != 0
    assert result.stderr.strip() == f"error: no built-in model weights in {empty}; run `ungated train builtin`"
    assert not (tmp_path / "other.mp4").exists()


def test_models_lists_the_builtin_with_weights_present(tmp_path):
    result = ungated("models", cwd=tmp_path)
    assert result.returncode == 0
    assert "builtin" in result.stdout and "present" in result.stdout


def test_train_help_states_the_recipe_defaults(tmp_path):
    from ungated.train.builtin import TrainPlan

    help_text = " ".join(ungated("train", "builtin", "--help", cwd=tmp_path).stdout.split())
    assert f"[default: {TrainPlan.painter_steps}]" in help_text
    assert f"[default: {TrainPlan.track_steps}]" in help_text


def test_eval_builtin_scores_a_model_and_both_baselines_as_json(tmp_path, tiny_model_dir):
    import json

    done = ungated("eval", "builtin", "--model-path", str(tiny_model_dir), "--prompts", "4", "--json", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    scores = json.loads(done.stdout)["scores"]
    assert set(scores) == {"model", "shuffled captions", "untrained model"}
    for table in scores.values():
        assert {"background", "single color", "single motion", "single exact", "stability"} <= set(table)
        assert all(0 <= v <= 1 for v in table.values())


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--prompts", "2"], "error: --prompts: must be between 4 and 512 (got 2)"),
        (["--model-path", "nowhere"], "error: --model-path: folder 'nowhere' does not exist"),
    ],
)
def test_eval_builtin_bad_input_is_one_line(tmp_path, args, expected):
    done = ungated("eval", "builtin", *args, cwd=tmp_path)
    assert done.returncode != 0 and done.stderr.strip() == expected and not list(tmp_path.iterdir())
