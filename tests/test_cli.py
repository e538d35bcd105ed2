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
        (["--model", "ltx-video", "--loop"], "error: --loop: model ltx-video loops from a first frame: give an image"),
        (["--model", "mochi-1", "--loop"], "error: --loop: model mochi-1 does not make loops"),
        (["--blend-into", "b.mp4"], "error: --blend-into: no such file: b.mp4"),
        (["--at", "2"], "error: --at: is where in the clip to extend to continue from; give extend too"),
        (["--character", "Bob"], "error: --character: give NAME=FILE, e.g. Bob=bob.png (got 'Bob')"),
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


def test_a_loop_that_extends_is_one_line_and_writes_nothing(tmp_path):
    (tmp_path / "before.mp4").write_bytes(b"a clip")
    result = ungated("generate", "a red circle", "--loop", "--extend", "before.mp4", cwd=tmp_path)
    assert result.returncode != 0 and len(result.stderr.strip().splitlines()) == 1
    assert result.stderr.strip().startswith("error: --loop: a loop is one whole clip that returns to its first "
                                            "frame; it cannot continue a clip (extend)"), result.stderr
    assert [p.name for p in tmp_path.iterdir()] == ["before.mp4"]


def test_generate_help_offers_loop(tmp_path):
    result = ungated("generate", "--help", cwd=tmp_path)
    assert "Make a seamless loop: the last frame flows into the first (models that loop)" in " ".join(
        result.stdout.split())


def test_missing_prompt_is_one_line(tmp_path):
    result = ungated("generate", cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip() == "error: Missing argument 'prompt'."


def builtin_plan(**fields):
    """What the built-in model makes of a request, as `generate` plans it."""
    from ungated.engines.builtin.engine import BuiltinEngine
    from ungated.request import Request, plan

    return plan(Request.build(prompt="x", **fields), BuiltinEngine().capabilities, "builtin")


def test_generate_writes_a_playable_mp4_and_names_it(tmp_path):
    result = ungated("generate", "a large green square moving left on a black background", "-o", "clip.mp4",
                     "--seed", "1", "--steps", "4", "--resolution", "360p", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    last = result.stdout.strip().splitlines()[-1]
    made = builtin_plan(resolution="360p")
    assert last.startswith(f"wrote clip.mp4 ({made.out_width}x{made.out_height}, {made.seconds:g} s at {made.fps} "
                           "fps, seed 1)")
    with av.open(str(tmp_path / "clip.mp4")) as container:
        assert sum(1 for _ in container.decode(video=0)) == made.total_frames
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clip.mp4", "clip.sprites.jpg", "clip.thumb.jpg"]


def test_variants_and_adjustments_are_reported(tmp_path):
    result = ungated("generate", "a red star spinning on a white background", "-o", "v.mp4", "--variants", "2",
                     "--aspect", "16:9", "--fps", "60", "--steps", "2", "--seed", "9", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    notes = builtin_plan(aspect="16:9", fps=60).adjustments
    assert notes and all(f"note: {note}" in result.stderr for note in notes)  # fps 60 is past every model's
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
    from ungated.engines.builtin.engine import BuiltinEngine

    result = ungated("models", cwd=tmp_path)
    assert result.returncode == 0
    assert "builtin" in result.stdout and "present" in result.stdout
    caps = BuiltinEngine().capabilities
    if caps.seconds_range:  # lengths and rates as ranges, e.g. "2-20s @8-30", never 23 rates one by one
        assert f"{caps.describe_seconds().replace(' ', '')} @{caps.describe_fps()}" in result.stdout


def test_train_help_states_the_recipe_defaults(tmp_path):
    from ungated.train.builtin import TrainPlan

    help_text = " ".join(ungated("train", "builtin", "--help", cwd=tmp_path).stdout.split())
    assert f"[default: {TrainPlan.painter_steps}]" in help_text
    assert f"[default: {TrainPlan.track_steps}]" in help_text


def one_error_line(result: subprocess.CompletedProcess) -> str:
    """The single `error:` line a failed command prints (a non-zero exit, no traceback)."""
    assert result.returncode != 0, result.stdout
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


def home_env(home: Path) -> dict[str, str]:
    import os

    home.mkdir(exist_ok=True)
    return {**os.environ, "UNGATED_HOME": str(home)}


def test_a_mark_image_that_is_not_an_image_is_one_line(tmp_path):
    (tmp_path / "logo.png").write_text("not a picture")
    result = ungated("generate", "a red circle", "--mark-image", "logo.png", cwd=tmp_path)
    assert one_error_line(result) == ("error: --mark-image: logo.png is not an image ungated can read; use a PNG (its "
                                      "transparency is kept), JPEG or WebP")
    assert [p.name for p in tmp_path.iterdir()] == ["logo.png"]


def test_train_lora_for_the_builtin_model_says_what_trains_it(tmp_path):
    line = one_error_line(ungated("train", "lora", "--model", "builtin", "--data", ".", cwd=tmp_path))
    assert line.startswith("error: --model: ungated trains LoRAs for: ") and "wan2.1-t2v-1.3b" in line
    assert line.endswith("(got 'builtin'); train the built-in model with `ungated train builtin --data DIR`")


def test_the_encode_benchmark_without_ffmpeg_is_one_line(tmp_path):
    script = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_encode.py"
    result = subprocess.run([sys.executable, str(script), "--frames", "1", "--repeats", "1"], capture_output=True,
                            text=True, cwd=tmp_path, env={"PATH": str(tmp_path)}, timeout=120)
    assert result.returncode == 1
    assert one_error_line(result).startswith("error: the ffmpeg command is not on PATH")


def test_train_builtin_on_the_shapes_world_writes_what_its_help_says(tmp_path):
    help_text = " ".join(ungated("train", "builtin", "--help", cwd=tmp_path).stdout.split())
    assert "writes to OUT: the model (model.safetensors, config.json), sample.mp4" in help_text
    assert "WORK_DIR keeps checkpoint.pt and loss.csv" in help_text
    done = ungated("train", "builtin", "--out", "shapes", "--painter-steps", "1", "--track-steps", "1", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert sorted(p.name for p in (tmp_path / "shapes").iterdir()) == [
        "config.json", "loss.png", "model.safetensors", "sample.mp4", "work"]
    assert sorted(p.name for p in (tmp_path / "shapes" / "work").iterdir()) == ["checkpoint.pt", "loss.csv"]
    with av.open(str(tmp_path / "shapes" / "sample.mp4")) as container:
        assert sum(1 for _ in container.decode(video=0)) == 120  # the engine's default: 5 s at 24 fps


CONFIG_WITH_MISTAKES = """
[models.wan2.1-t2v-1.3b]
path = "{folder}"

[models."ltx-video"]
pth = "/data/ltx"

[models.ltx-vidoe]
path = "/data/ltx"

[openai.models]
sora-2 = "ltx-video"
sora-2-pro = "sora"

[provenance]
artst = "Ada"

[servr]
port = 8001
"""


def test_config_mistakes_are_each_named_and_a_dotted_model_id_is_still_found():
    import tomllib

    from ungated import settings
    from ungated.engines.catalog import model_ids

    known, problems = settings.check(tomllib.loads(CONFIG_WITH_MISTAKES.format(folder="/data/wan")), model_ids())
    assert known == {"models": {"wan2.1-t2v-1.3b": {"path": "/data/wan"}, "ltx-video": {}},
                     "openai": {"models": {"sora-2": "ltx-video"}}, "provenance": {}}
    assert problems == [
        '[models.wan2.1-t2v-1.3b]: quote ids with dots: [models."wan2.1-t2v-1.3b"] (unquoted, TOML reads nested '
        "tables; ungated used it as wan2.1-t2v-1.3b)",
        '[models."ltx-video"] pth is not a setting (did you mean path?); its setting is path',
        "[models.ltx-vidoe] is not a model id (did you mean ltx-video?) (`ungated models` lists them)",
        "[openai.models] sora-2-pro = 'sora': not a model id (`ungated models` lists them)",
        "[provenance] artst is not a setting (did you mean artist?); its settings are artist, certificate, private_key",
        '[servr] is not a section; the sections are [models."ID"], [openai], [openai.models], [provenance] and [community]',
    ]
    _, problems = settings.check({"models": {"wan2": {"1-t2v-1": {"3c": {"path": "/x"}}}}, "artist": "Ada"},
                                 model_ids())
    assert problems == [
        '[models.wan2.1-t2v-1.3c] is not a model id (did you mean wan2.1-t2v-1.3b?); quote ids with dots: '
        '[models."wan2.1-t2v-1.3b"] (`ungated models` lists them)',
        "artist is not a setting of its own; put it under [provenance]",
    ]


def test_the_cli_warns_about_config_mistakes_and_uses_the_unquoted_model_path(tmp_path):
    home = tmp_path / "home"
    env = home_env(home)
    missing = tmp_path / "wan-weights"
    (home / "config.toml").write_text(CONFIG_WITH_MISTAKES.format(folder=missing))
    result = ungated("generate", "a fox", "--model", "wan2.1-t2v-1.3b", cwd=tmp_path, env=env)
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 2 and "Traceback" not in result.stderr
    # The dotted id was found: its folder is the one checked.
    assert lines[-1] == f"error: config.toml: {missing} is not a diffusers-format model folder (no model_index.json)"
    warnings = lines[:-1]
    assert len(warnings) == 6 and all(line.startswith(f"warning: {home / 'config.toml'}: ") for line in warnings)
    assert any('quote ids with dots: [models."wan2.1-t2v-1.3b"]' in line for line in warnings)
    assert any("[provenance] artst is not a setting (did you mean artist?)" in line for line in warnings)


def signing_files(folder: Path) -> tuple[Path, Path]:
    """A CA and a signing certificate issued by it, made the way ungated makes its own."""
    from ungated.provenance.credentials import _make_local_ca

    _make_local_ca(folder)
    return folder / "signer.pem", folder / "signer.key"


def test_a_signing_key_ungated_cannot_use_is_one_line_before_any_frame(tmp_path):
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec, rsa

    home = tmp_path / "home"
    env = home_env(home)
    chain, key = signing_files(tmp_path / "ca")
    config = home / "config.toml"
    out = tmp_path / "out"
    out.mkdir()

    def generate() -> subprocess.CompletedProcess:
        return ungated("generate", "a red circle", "--steps", "2", "--resolution", "360p", cwd=out, env=env)

    def use_key(data: bytes) -> Path:
        path = tmp_path / "key.pem"
        path.write_bytes(data)
        config.write_text(f'[provenance]\ncertificate = "{chain}"\nprivate_key = "{path}"\n')
        return path

    pem, none = serialization.Encoding.PEM, serialization.NoEncryption()
    where = "error: config.toml [provenance] private_key: "
    path = use_key(b"not a key")
    assert one_error_line(generate()).startswith(f"{where}{path} is not a private key ungated can read")
    rsa_key = rsa.generate_private_key(65537, 2048).private_bytes(pem, serialization.PrivateFormat.PKCS8, none)
    use_key(rsa_key)
    assert "is an RSA key; C2PA signing here uses ES256" in one_error_line(generate())
    loaded = serialization.load_pem_private_key(key.read_bytes(), None)
    use_key(loaded.private_bytes(pem, serialization.PrivateFormat.PKCS8,
                                 serialization.BestAvailableEncryption(b"secret")))
    assert "is encrypted; write an unencrypted copy with `openssl pkcs8" in one_error_line(generate())
    other = ec.generate_private_key(ec.SECP256R1()).private_bytes(pem, serialization.PrivateFormat.PKCS8, none)
    use_key(other)
    assert f"is not the private key of the first certificate in {chain}" in one_error_line(generate())
    assert list(out.iterdir()) == []

    # A SEC1 key ("BEGIN EC PRIVATE KEY", what `openssl ecparam -genkey` writes) signs.
    use_key(loaded.private_bytes(pem, serialization.PrivateFormat.TraditionalOpenSSL, none))
    done = generate()
    assert done.returncode == 0, done.stderr
    report = ungated("verify", "--json", "clip.mp4", cwd=out, env=env)
    assert '"verdict": "signed"' in report.stdout and '"state": "Valid"' in report.stdout
