"""Directing with the open models: LTX-Video's condition pipeline (follows, re-cut, blend, loop),
image-to-video models continuing a clip from its last frame, Wan's first-last-frame model (blend,
loop), edits as long as their clip, and the plan refusing what a model cannot do. Tiny random
models saved in the diffusers layout load through the real path; a spy records what each pipeline
pass was given."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from ungated.engines.open import directing
from ungated.engines.open.engine import OpenModelEngine
from ungated.engines.open.models import OPEN_MODELS
from ungated.errors import InvalidRequest
from ungated.media.encode import Mp4Writer
from ungated.media.inputs import read_video
from ungated.request import Request, plan

from .test_open_models import engine_for, run, tiny_plan


def clip(path: Path, frames: int, fps: int, seed: int = 0) -> Path:
    """A clip of distinct flat colours, one per frame."""
    colours = np.random.default_rng(seed).integers(0, 255, (frames, 3))
    with Mp4Writer(path, 32, 32, fps, {}) as writer:
        for colour in colours:
            writer.write(np.broadcast_to(colour.astype(np.uint8), (32, 32, 3)).copy())
    return path


def frames_of(path: Path, fps: int, count: int, size: int = 32) -> np.ndarray:
    return np.stack([np.asarray(image) for image in read_video(path, size, size, fps, count)])


def pixels(images) -> np.ndarray:
    return np.stack([np.asarray(image) for image in images])


def spy(engine: OpenModelEngine) -> list[tuple[str, dict]]:
    """Records each pipeline pass: the pipeline's class name and the arguments it was called with."""
    passes = []
    original = engine._run

    def recording(pipe, arguments, *rest):
        passes.append((type(pipe).__name__, arguments))
        return original(pipe, arguments, *rest)

    engine._run = recording
    return passes


def conditions(arguments: dict) -> list[tuple[str, int, np.ndarray]]:
    """The condition pipeline's conditions as (kind, frame index, pixels)."""
    return [("video", c.frame_index, pixels(c.video)) if c.video is not None else
            ("image", c.frame_index, np.asarray(c.image)[None]) for c in arguments["conditions"]]


def test_an_ltx_shot_that_follows_a_clip_starts_from_its_last_frames_without_repeating_them(tiny_folders, tmp_path):
    shot = clip(tmp_path / "shot.mp4", 12, 24)
    engine = engine_for("ltx-video", tiny_folders["ltx"])
    passes = spy(engine)
    the_plan = tiny_plan(9, fps=24, follows=shot)
    video = run(engine, replace(the_plan, request=the_plan.request.model_copy(update={"prompt": "@Rex on the beach"})))
    assert video.shape == (9, 32, 32, 3)  # only the new frames
    [(pipeline, arguments)] = passes
    assert pipeline == "LTXConditionPipeline" and arguments["num_frames"] == 25  # 9 of context + 9, as 8N+1
    [(kind, index, context)] = conditions(arguments)
    assert (kind, index) == ("video", 0) and np.array_equal(context, frames_of(shot, 24, 12)[-9:])
    assert arguments["prompt"] == "Rex on the beach"  # text encoders read the bare name


def test_an_ltx_recut_keeps_the_clip_up_to_the_cut_and_continues_from_the_frames_before_it(tiny_folders, tmp_path):
    source = clip(tmp_path / "source.mp4", 24, 24)
    engine = engine_for("ltx-video", tiny_folders["ltx"])
    passes = spy(engine)
    the_plan = replace(tiny_plan(9, fps=24, extend=source, extend_at=0.5), kept_frames=12)
    video = run(engine, the_plan)
    assert video.shape == (12 + 9, 32, 32, 3)
    original = frames_of(source, 24, 24)
    assert np.array_equal(video[:12], original[:12])  # what followed the cut is gone
    [(kind, index, context)] = conditions(passes[0][1])
    assert (kind, index) == ("video", 0) and np.array_equal(context, original[3:12])


def test_an_ltx_blend_is_a_then_a_transition_pinned_to_both_ends_then_b(tiny_folders, tmp_path):
    a, b = clip(tmp_path / "a.mp4", 12, 24, seed=1), clip(tmp_path / "b.mp4", 10, 24, seed=2)
    engine = engine_for("ltx-video", tiny_folders["ltx"])
    passes = spy(engine)
    the_plan = replace(tiny_plan(9, fps=24, extend=a, blend_into=b), kept_frames=12, trailing_frames=10)
    video = run(engine, the_plan)
    assert video.shape == (the_plan.total_frames, 32, 32, 3) == (12 + 9 + 10, 32, 32, 3)
    assert np.array_equal(video[:12], frames_of(a, 24, 12))
    assert np.array_equal(video[-10:], frames_of(b, 24, 10))
    [(_, arguments)] = passes
    (start, start_at, context), (end, end_at, last) = conditions(arguments)
    assert (start, start_at) == ("video", 0) and np.array_equal(context, frames_of(a, 24, 12)[-9:])
    # B's first frame just after the 9 new ones, which come after A's 9 frames of context.
    assert (end, end_at) == ("image", 9 + 9) and np.array_equal(last[0], frames_of(b, 24, 1)[0])
    assert arguments["num_frames"] == 25 > end_at


def test_an_ltx_loop_starts_on_its_image_and_leads_back_into_it(tiny_folders, tmp_path):
    image = tmp_path / "start.png"
    Image.fromarray(np.random.default_rng(3).integers(0, 255, (32, 32, 3), dtype=np.uint8)).save(image)
    engine = engine_for("ltx-video", tiny_folders["ltx"])
    passes = spy(engine)
    video = run(engine, tiny_plan(9, fps=24, image=image, loop=True))
    assert video.shape == (9, 32, 32, 3)
    [(_, arguments)] = passes
    (first, first_at, start), (last, last_at, end) = conditions(arguments)
    assert (first, first_at, last, last_at) == ("image", 0, "image", 9)  # the frame after the last is the first
    assert np.array_equal(start, end) and np.array_equal(start[0], np.asarray(Image.open(image)))


@pytest.mark.parametrize("model_id, kind, fps, expected_pipeline", [
    ("wan2.1-i2v-14b-480p", "wan-i2v", 16, "WanImageToVideoPipeline"),
    ("hunyuanvideo1.5-480p-i2v", "hunyuan15-i2v", 24, "HunyuanVideo15ImageToVideoPipeline"),
])
def test_an_image_to_video_model_continues_a_clip_from_its_last_frame(model_id, kind, fps, expected_pipeline,
                                                                      tiny_folders, tmp_path):
    source = clip(tmp_path / "source.mp4", 12, fps)
    engine = engine_for(model_id, tiny_folders[kind])
    passes = spy(engine)
    video = run(engine, replace(tiny_plan(9, fps=fps, extend=source), kept_frames=12))
    assert video.shape == (12 + 9, 32, 32, 3)
    assert np.array_equal(video[:12], frames_of(source, fps, 12))
    [(pipeline, arguments)] = passes
    assert pipeline == expected_pipeline and arguments["num_frames"] == 13  # the last frame, then 9 (4N+1)
    assert np.array_equal(np.asarray(arguments["image"]), frames_of(source, fps, 12)[-1])
    assert "last_image" not in arguments


def test_the_first_last_frame_model_blends_from_a_last_frame_to_b_first_and_loops_an_image(tiny_folders, tmp_path):
    a, b = clip(tmp_path / "a.mp4", 12, 16, seed=1), clip(tmp_path / "b.mp4", 8, 16, seed=2)
    engine = engine_for("wan2.1-flf2v-14b-720p", tiny_folders["wan-flf2v"])
    passes = spy(engine)
    blend = replace(tiny_plan(9, fps=16, extend=a, blend_into=b), kept_frames=12, trailing_frames=8)
    video = run(engine, blend)
    assert video.shape == (12 + 9 + 8, 32, 32, 3)
    assert np.array_equal(video[:12], frames_of(a, 16, 12)) and np.array_equal(video[-8:], frames_of(b, 16, 8))
    image = tmp_path / "start.png"
    Image.fromarray(frames_of(b, 16, 1)[0]).save(image)
    assert run(engine, tiny_plan(9, fps=16, image=image, loop=True)).shape == (9, 32, 32, 3)
    (_, blending), (_, looping) = passes
    assert np.array_equal(np.asarray(blending["image"]), frames_of(a, 16, 12)[-1])
    assert np.array_equal(np.asarray(blending["last_image"]), frames_of(b, 16, 1)[0])
    assert np.array_equal(np.asarray(looping["image"]), np.asarray(looping["last_image"]))
    assert blending["num_frames"] == looping["num_frames"] == 13  # 9 new frames and the ends, as 4N+1


def test_pyramid_flow_continues_a_clip_from_its_last_frame(tmp_path):
    from ungated.engines.catalog import get_engine

    from .tiny_pyramid import save_tiny_pyramid

    engine = get_engine("pyramid-flow-miniflux", save_tiny_pyramid(tmp_path / "pyramid-flow-miniflux"))
    given = []
    encode = engine._encode_image
    engine._encode_image = lambda image, generator: given.append(np.asarray(image)) or encode(image, generator)
    source = clip(tmp_path / "source.mp4", 12, 24)
    request = Request.build(prompt="a fox", model="pyramid-flow-miniflux", extend=source)
    the_plan = replace(tiny_plan(9, fps=24, size=64), request=request, kept_frames=12)
    video = run(engine, the_plan)
    assert video.shape == (12 + 9, 64, 64, 3)
    assert np.array_equal(video[:12], frames_of(source, 24, 12, size=64))
    [image] = given  # the first latent frame is the clip's last frame, not sampled and not written again
    assert np.array_equal(image, frames_of(source, 24, 12, size=64)[-1])


def test_an_edit_a_frame_short_of_the_rule_holds_the_clip_last_frame(tiny_folders, tmp_path):
    source = clip(tmp_path / "source.mp4", 8, 8)
    engine = engine_for("wan2.1-t2v-1.3b", tiny_folders["wan"])
    passes = spy(engine)
    assert run(engine, tiny_plan(9, fps=8, video=source)).shape == (9, 32, 32, 3)
    given = pixels(passes[0][1]["video"])
    assert np.array_equal(given[:8], frames_of(source, 8, 8)) and np.array_equal(given[8], given[7])


def test_an_edit_is_as_long_as_its_clip_when_no_length_is_asked(tmp_path):
    source = clip(tmp_path / "source.mp4", 33, 16)
    model = OPEN_MODELS["wan2.1-t2v-1.3b"]
    assert plan(Request.build(prompt="a fox", model=model.id, video=source), model.capabilities, model.id).frames == 33


def request_for(model_id: str, **fields) -> InvalidRequest | None:
    """The plan's refusal of a request to this model, or None if it plans it."""
    model = OPEN_MODELS[model_id]
    try:
        plan(Request.build(prompt="a fox", model=model_id, **fields), model.capabilities, model_id)
    except InvalidRequest as refusal:
        return refusal
    return None


def test_the_plan_takes_each_verb_a_model_has_and_refuses_the_others_by_field(tmp_path):
    a, b = clip(tmp_path / "a.mp4", 12, 16), clip(tmp_path / "b.mp4", 8, 16)
    image = tmp_path / "start.png"
    Image.new("RGB", (32, 32), (200, 30, 30)).save(image)
    assert request_for("wan2.1-i2v-14b-480p", extend=a) is None  # from the clip's last frame, no image needed
    assert request_for("wan2.1-i2v-14b-480p", follows=a) is None
    assert request_for("wan2.1-i2v-14b-480p", extend=a, blend_into=b).field == "blend_into"
    assert request_for("wan2.1-i2v-14b-480p", image=image, loop=True).field == "loop"
    assert request_for("wan2.1-t2v-1.3b", extend=a).field == "extend"
    assert request_for("ltx-video", extend=a, blend_into=b) is None
    assert request_for("wan2.1-flf2v-14b-720p", extend=a, blend_into=b) is None
    assert request_for("wan2.1-flf2v-14b-720p", image=image, loop=True) is None
    for alone in ({}, {"image": image}, {"extend": a}, {"follows": a}):  # it needs a first and a last frame
        refusal = request_for("wan2.1-flf2v-14b-720p", **alone)
        assert refusal.field == "model" and "a loop (of an image) or a blend" in refusal.message


@pytest.mark.parametrize("model_id, verbs", [
    ("ltx-video", {"extend", "recut", "continue", "loop", "blend", "characters"}),
    ("wan2.1-i2v-14b-480p", {"extend", "recut", "continue", "characters"}),
    ("wan2.1-flf2v-14b-720p", {"loop", "blend"}),
    ("wan2.1-t2v-1.3b", {"edit"}),
    ("pyramid-flow-miniflux", {"extend", "recut", "continue", "characters"}),
    ("mochi-1", set()),
])
def test_each_model_verbs_follow_from_its_tasks(model_id, verbs):
    assert {verb for verb, offered in OPEN_MODELS[model_id].capabilities.verbs().items() if offered} == verbs


def test_passes_are_lengths_the_rule_allows_and_write_exactly_the_new_frames():
    ltx = (9, 8, 17)  # LTX's rule, at most 17 frames a pass
    for new in (9, 17, 25, 41):
        for context, pinned in ((0, False), (9, False), (1, True), (9, True)):
            passes = directing.segments(ltx, new, 9, context, pinned)
            assert sum(p.write for p in passes) == new
            assert all((p.length - 9) % 8 == 0 and p.length <= 17 and p.skip + p.write <= p.length for p in passes)
            assert passes[-1].end_at == (passes[-1].skip + passes[-1].write if pinned else None)
            assert passes[-1].end_at is None or passes[-1].end_at < passes[-1].length
    # An image-to-video continuation drops what its pass made past the end; a pass pinned at both
    # ends spreads its frames, and one at the longest length shows a frame twice.
    assert directing.one_pass((5, 4, 81), 9, 1, False) == (13, list(range(1, 10)))
    length, positions = directing.one_pass((5, 4, 81), 81, 0, True)
    assert length == 81 and len(positions) == 81 and positions[-1] == 79 and len(set(positions)) == 80
    assert directing.one_pass((81, 80, 161), 81, 1, False)[0] == 81  # not 161 for one frame


def test_the_models_table_lists_each_model_verbs():
    from typer.testing import CliRunner

    from ungated.cli import app

    listed = CliRunner().invoke(app, ["models"])
    assert listed.exit_code == 0, listed.output
    rows = {line.split("│")[1].strip(): line for line in listed.output.splitlines() if line.startswith("│")}
    assert "ext cut loop blend cont char" in rows["ltx-video"]
    assert "loop blend" in rows["wan2.1-flf2v-14b-720p"] and "first+last frame" in rows["wan2.1-flf2v-14b-720p"]
    assert " edit " in rows["wan2.1-t2v-1.3b"]
