from dataclasses import replace

import pytest

from ungated.engines.base import describe_numbers
from ungated.errors import InvalidRequest
from ungated.request import Request, output_size, plan

from .fake_engines import ANY_ASPECT, ONE_SIZE

# A model with one native size and one frame count (the built-in model before issue 28): every
# request is mapped to it, and every change is reported.
CAPS = ONE_SIZE


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
        ({"loop": "maybe"}, "loop", "valid boolean"),
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
    text = "\n".join(map(str, p.adjustments))
    assert "size 1280x720 -> 720x720" in text
    assert "fps 24 -> 8" in text
    assert "seconds 5 -> 2 (" in text


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
    import numpy as np

    from ungated.media.encode import Mp4Writer

    clip = tmp_path / "clip.mp4"
    with Mp4Writer(clip, 64, 64, 8, {}) as writer:
        for _ in range(16):
            writer.write(np.zeros((64, 64, 3), np.uint8))
    request = Request.build(prompt="more of the same", extend=clip, seconds=2)
    with pytest.raises(InvalidRequest, match="does not continue clips"):
        plan(request, CAPS, "tiny")
    extending = replace(CAPS, extend_input=True)
    the_plan = plan(request, extending, "tiny")
    assert the_plan.kept_frames == 2 * the_plan.fps and the_plan.seconds == pytest.approx(4.0, abs=0.2)
    with pytest.raises(InvalidRequest, match="extend"):
        Request.build(prompt="x", extend=clip, image=clip)


def short_clip(tmp_path):
    import numpy as np

    from ungated.media.encode import Mp4Writer

    clip = tmp_path / "clip.mp4"
    with Mp4Writer(clip, 64, 64, 8, {}) as writer:
        for _ in range(16):
            writer.write(np.zeros((64, 64, 3), np.uint8))
    return clip


# ---- models that draw any size and length (any_aspect, seconds_range) ------------------------


@pytest.mark.parametrize("size", ["1280x720", "720x1280", "1024x1792", "1792x1024", "1000x250", "64x1920"])
@pytest.mark.parametrize("seconds", [4, 8, 12, 2, 20, 7.5])
def test_any_aspect_draws_exactly_the_size_and_seconds_asked(size, seconds):
    the_plan = plan(Request.build(prompt="x", size=size, seconds=seconds), ANY_ASPECT, "any")
    width, height = map(int, size.split("x"))
    assert (the_plan.width, the_plan.height, the_plan.out_width, the_plan.out_height) == (width, height) * 2
    assert (the_plan.fps, the_plan.frames, the_plan.seconds) == (24, seconds * 24, seconds)
    assert the_plan.adjustments == ()


@pytest.mark.parametrize(("aspect", "resolution", "size"), [
    ("16:9", "720p", (1280, 720)), ("9:16", "1080p", (1080, 1920)), ("1:1", "360p", (360, 360)),
    (None, None, (1280, 720)),  # the model's default aspect and resolution
])
def test_any_aspect_draws_aspect_and_resolution_natively(aspect, resolution, size):
    the_plan = plan(Request.build(prompt="x", aspect=aspect, resolution=resolution), ANY_ASPECT, "any")
    assert (the_plan.width, the_plan.height) == (the_plan.out_width, the_plan.out_height) == size
    assert the_plan.adjustments == ()


def test_a_seconds_range_makes_whole_frames_at_any_of_its_rates():
    default = plan(Request.build(prompt="x"), ANY_ASPECT, "any")
    assert (default.fps, default.frames, default.seconds) == (24, 120, 5.0)
    assert plan(Request.build(prompt="x", seconds=20, fps=30), ANY_ASPECT, "any").frames == 600
    assert plan(Request.build(prompt="x", seconds=2, fps=8), ANY_ASPECT, "any").frames == 16
    within_a_frame = plan(Request.build(prompt="x", seconds=4.3), ANY_ASPECT, "any")  # 103.2 frames at 24
    assert within_a_frame.frames == 103 and within_a_frame.adjustments == ()


@pytest.mark.parametrize(("fields", "note", "frames", "fps"), [
    ({"seconds": 1}, "seconds 1 -> 2 (any makes clips of 2-20 s)", 48, 24),
    ({"seconds": 0.5, "fps": 30}, "seconds 0.5 -> 2 (any makes clips of 2-20 s)", 60, 30),
    ({"fps": 5}, "fps 5 -> 8 (any makes 8-30 fps)", 40, 8),
    ({"fps": 60}, "fps 60 -> 30 (any makes 8-30 fps)", 150, 30),
])
def test_a_seconds_range_reports_only_what_it_changes(fields, note, frames, fps):
    the_plan = plan(Request.build(prompt="x", **fields), ANY_ASPECT, "any")
    assert tuple(map(str, the_plan.adjustments)) == (note,)
    assert (the_plan.frames, the_plan.fps) == (frames, fps)


def test_capabilities_describe_a_seconds_range_and_a_run_of_rates():
    assert (ANY_ASPECT.frames_min, ANY_ASPECT.frames_max, ANY_ASPECT.frames_step) == (16, 600, 1)  # 2 s at 8, 20 at 30
    assert ANY_ASPECT.max_seconds == 20
    assert ANY_ASPECT.describe_frames() == "any for 2-20 s" and ANY_ASPECT.describe_seconds() == "2-20 s"
    assert ANY_ASPECT.describe_fps() == "8-30"
    assert ANY_ASPECT.nearest_frames(1000, 8) == 160 and ANY_ASPECT.nearest_frames(10, 24) == 48
    assert (CAPS.describe_frames(), CAPS.describe_seconds(), CAPS.describe_fps()) == ("16", "up to 2.0 s", "8")
    assert describe_numbers((24, 8, 16)) == "8, 16, 24" and describe_numbers((8, 9, 10, 24, 25)) == "8-10, 24, 25"
    with pytest.raises(ValueError, match="seconds_range"):
        replace(ANY_ASPECT, seconds_range=(5, 2))


# ---- loops ------------------------------------------------------------------------------------


def test_loop_is_planned_for_models_that_loop_and_refused_by_others():
    request = Request.build(prompt="a red circle orbiting", loop=True)
    assert plan(request, ANY_ASPECT, "any").request.loop
    with pytest.raises(InvalidRequest) as err:
        plan(request, CAPS, "tiny")
    assert (err.value.field, err.value.message) == ("loop", "model tiny does not make loops")
    assert not Request.build(prompt="x").loop


def test_a_loop_cannot_extend_a_clip(tmp_path):
    request = Request.build(prompt="more of the same", extend=short_clip(tmp_path), loop=True)
    for caps in (replace(ANY_ASPECT, extend_input=True), CAPS):  # refused whatever the model can do
        with pytest.raises(InvalidRequest) as err:
            plan(request, caps, "any")
        assert err.value.field == "loop" and "extend" in err.value.message
