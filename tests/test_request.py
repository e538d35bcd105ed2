import pytest

from ungated.engines.builtin.engine import BuiltinEngine
from ungated.errors import InvalidRequest
from ungated.request import Request, output_size, plan

CAPS = BuiltinEngine().capabilities


@pytest.mark.parametrize(
    ("fields", "field", "fragment"),
    [
        ({"prompt": ""}, "prompt", "at least 1 character"),
        ({"prompt": "   "}, "prompt", "must not be blank"),
        ({"seconds": 50}, "seconds", "less than or equal to 20"),
        ({"seconds": 0}, "seconds", "greater than 0"),
        ({"aspect": "4:3"}, "aspect", "'16:9', '9:16' or '1:1'"),
        ({"resolution": "4k"}, "resolution", "'360p', '480p', '720p' or '1080p'"),
        ({"size": "641x360"}, "size", "even number from 64 to 1920"),
        ({"size": "big"}, "size", "WIDTHxHEIGHT"),
        ({"size": "640x360", "aspect": "16:9"}, "request", "either size or aspect"),
        ({"fps": 0}, "fps", "greater than or equal to 1"),
        ({"seed": -1}, "seed", "greater than or equal to 0"),
        ({"variants": 5}, "variants", "less than or equal to 4"),
        ({"steps": 0}, "steps", "greater than or equal to 1"),
        ({"guidance": 31}, "guidance", "less than or equal to 30"),
        ({"image": "/no/such/file.png"}, "image", "no such file"),
        ({"colour": "red"}, "colour", "extra inputs"),
    ],
)
def test_bad_fields_are_named_with_the_rule(fields, field, fragment):
    with pytest.raises(InvalidRequest) as err:
        Request.build(**{"prompt": "a red circle", **fields})
    assert err.value.field == field
    assert fragment in err.value.message


def test_output_sizes_follow_aspect_and_resolution():
    assert output_size("16:9", "1080p") == (1920, 1080)
    assert output_size("16:9", "480p") == (854, 480)
    assert output_size("9:16", "720p") == (720, 1280)
    assert output_size("1:1", "360p") == (360, 360)


def test_defaults_need_no_adjustment():
    p = plan(Request.build(prompt="a red circle", seed=5), CAPS, "builtin")
    assert p.adjustments == ()
    assert (p.width, p.height, p.out_width, p.out_height) == (64, 64, 480, 480)
    assert (p.frames, p.fps, p.seconds) == (16, 8, 2.0)
    assert p.seeds == (5,)


def test_every_change_is_reported():
    request = Request.build(prompt="x", aspect="16:9", resolution="720p", seconds=5, fps=24, variants=3, seed=10)
    p = plan(request, CAPS, "builtin")
    assert (p.out_width, p.out_height) == (720, 720)
    assert p.seeds == (10, 11, 12)
    text = "\n".join(p.adjustments)
    assert "size 1280x720 -> 720x720" in text
    assert "fps 24 -> 8" in text
    assert "seconds 5 -> 2.00" in text


def test_explicit_square_size_is_kept():
    p = plan(Request.build(prompt="x", size="256x256"), CAPS, "builtin")
    assert (p.out_width, p.out_height) == (256, 256)
    assert p.adjustments == ()


def test_inputs_the_model_cannot_take_are_errors(tmp_path):
    image = tmp_path / "in.png"
    image.write_bytes(b"not really a png")
    with pytest.raises(InvalidRequest) as err:
        plan(Request.build(prompt="x", image=str(image)), CAPS, "builtin")
    assert err.value.field == "image"


def test_steps_above_the_model_limit_are_errors():
    with pytest.raises(InvalidRequest, match="steps: must be at most 200"):
        plan(Request.build(prompt="x", steps=300), CAPS, "builtin")


def test_unseeded_requests_get_a_reported_random_seed():
    seeds = {plan(Request.build(prompt="x"), CAPS, "builtin").seeds[0] for _ in range(5)}
    assert len(seeds) > 1


def test_extend_plans_the_kept_clip_plus_the_new_seconds(tmp_path):
    from dataclasses import replace as replace_caps

    import numpy as np

    from ungated.media.encode import Mp4Writer

    clip = tmp_path / "clip.mp4"
    with Mp4Writer(clip, 64, 64, 8, {}) as writer:
        for _ in range(16):
            writer.write(np.zeros((64, 64, 3), np.uint8))
    request = Request.build(prompt="more of the same", extend=clip, seconds=2)
    with pytest.raises(InvalidRequest, match="does not continue clips"):
        plan(request, CAPS, "tiny")
    extending = replace_caps(CAPS, extend_input=True)
    the_plan = plan(request, extending, "tiny")
    assert the_plan.kept_frames == 2 * the_plan.fps and the_plan.seconds == pytest.approx(4.0, abs=0.2)
    with pytest.raises(InvalidRequest, match="extend"):
        Request.build(prompt="x", extend=clip, image=clip)
