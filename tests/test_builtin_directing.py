"""The built-in model's directing verbs, through the real engine and real MP4s: extend with a new
prompt, re-cut, follows (storyboard shots), edit, blend, loop and characters.

The tiny model is untrained, so most tests give the engine known scenes per prompt (what a
trained model samples for it) and measure what it draws from the frames it writes. Characters
are judged on the shipped model, which follows prompts.
"""

import json

import av
import numpy as np
import pytest
from PIL import Image, ImageDraw

from ungated.engines.builtin import tracks, world
from ungated.engines.builtin.characters import describe_object
from ungated.engines.builtin.engine import SCENE_TAG, BuiltinEngine
from ungated.engines.builtin.judge import judge
from ungated.errors import InvalidRequest
from ungated.generate import generate_clips
from ungated.media.encode import Mp4Writer, read_metadata
from ungated.request import CharacterObject, Request, plan

SIZE, FPS = "128x72", 8
BLUE = world.COLORS["blue"]


def _caption(*objects: tuple, background: str = "blue") -> str:
    return world.Scene(tuple(world.ShapeSpec(*o) for o in objects), background).caption()


RIGHT = _caption(("circle", "red", "large", "moving right"))
DOWN = _caption(("square", "yellow", "small", "moving down"), background="gray")
UP = _caption(("circle", "red", "large", "moving up"))
BOUNCE = _caption(("circle", "red", "large", "bouncing"))
HOP = _caption(("square", "yellow", "small", "bouncing"), background="gray")
LEFT = _caption(("circle", "red", "large", "moving left"))
GREEN = _caption(("square", "green", "small", "standing still"), background="gray")  # names a size, a background
INTO = _caption(("square", "yellow", "small", "moving up"), background="gray")
PAIR = _caption(("star", "red", "large", "standing still"), ("square", "yellow", "small", "standing still"))
PROMPTS = (RIGHT, DOWN, UP, BOUNCE, HOP, LEFT, GREEN, INTO, PAIR)


@pytest.fixture
def engine(tiny_engine, monkeypatch):
    """The tiny engine, sampling each prompt's known scene (and counting the sampler's steps)."""
    scenes = {prompt: tracks.true_params([_scene(prompt)], [16 / 9], 2, seed=5) for prompt in PROMPTS}
    scenes["a green circle"] = scenes[GREEN]  # an edit prompt that names no size and no background
    scenes["moving up"] = scenes[INTO]  # prompts that name a motion and no looks: the sample's are not taken
    scenes["moving down"] = scenes[DOWN]

    def sample(the_plan, seed, on_progress, should_cancel):
        for step in range(1, the_plan.steps + 1):
            on_progress(step, the_plan.steps)
        return scenes[the_plan.request.prompt]

    monkeypatch.setattr(tiny_engine, "_sample", sample)
    return tiny_engine


def _scene(prompt: str) -> world.Scene:
    words = prompt.split(" on a ")
    background = words[1].split()[0]
    objects = []
    for phrase in words[0].split(" and "):
        _, size, color, shape, *motion = phrase.split()
        objects.append(world.ShapeSpec(shape, color, size, " ".join(motion) or "standing still"))
    return world.Scene(tuple(objects), background)


def _make(engine, path, prompt, **fields) -> np.ndarray:
    fields = {"size": SIZE, "fps": FPS, "seconds": 2} | fields
    the_plan = plan(Request.build(prompt=prompt, seed=3, steps=2, **fields), engine.capabilities, engine.id)
    generate_clips(engine, the_plan, [path], lambda *a: None, sign=False)
    return _frames(path)


def _frames(path) -> np.ndarray:
    with av.open(str(path)) as container:
        return np.stack([f.to_ndarray(format="rgb24") for f in container.decode(video=0)]).astype(int)


def _segments(path) -> list[dict]:
    return json.loads(read_metadata(path)[SCENE_TAG])["segments"]


def _centres(frames: np.ndarray) -> np.ndarray:
    """[T, 2] the centre (x, y, pixels) of what is not background in each frame of a one-object clip."""
    out = []
    for frame in frames:
        border = np.concatenate([frame[0], frame[-1], frame[:, 0], frame[:, -1]])
        ys, xs = np.nonzero(np.abs(frame - np.median(border, axis=0)).sum(-1) > 90)
        out.append((xs.mean(), ys.mean()))
    return np.array(out)


def _steps(centres: np.ndarray) -> np.ndarray:
    return np.linalg.norm(np.diff(centres, axis=0), axis=1)


def _continuous_at(centres: np.ndarray, seam: int) -> None:
    """The step into frame `seam` is no longer than a frame's motion on either side of it."""
    steps = _steps(centres)
    jump, around = steps[seam - 1], max(steps[seam - 2], steps[seam])
    assert jump <= around + 1.5, f"jump of {jump:.1f} px at frame {seam}; {around:.1f} px a frame around it"


def _color_share(frames: np.ndarray, name: str) -> float:
    """How much of the clip is near a palette color."""
    return float((np.abs(frames - world.COLORS[name]).sum(-1) < 60).mean())


# ---------------------------------------------------------------------------------------------
# Extend and re-cut


def test_extend_with_a_new_prompt_changes_the_motion_from_where_the_object_is(engine, tmp_path):
    first = _make(engine, tmp_path / "right.mp4", RIGHT)
    both = _make(engine, tmp_path / "up.mp4", INTO, extend=tmp_path / "right.mp4")
    assert len(both) == 2 * len(first) == 32
    centres = _centres(both)
    _continuous_at(centres, 16)
    (x0, y0), (x1, y1), (x2, y2) = centres[0], centres[16], centres[31]
    assert x1 - x0 > 20 and abs(y1 - y0) < 2  # first it moves right
    assert y1 - y2 > 15 and abs(x2 - x1) < 2  # then up, as the new prompt says
    # From where the circle was, it goes on as what the new prompt names: a small yellow square on gray.
    assert _color_share(both[16:], "yellow") > 0.005 and _color_share(both[16:], "red") < 0.005
    assert np.abs(both[16:, 0, 0] - np.array(world.BACKGROUNDS["gray"])).sum(-1).max() < 40
    assert [(s["start"], s["seconds"]) for s in _segments(tmp_path / "up.mp4")] == [(0, 2), (2, 2)]


def test_an_extension_keeps_the_looks_its_prompt_does_not_name(engine, tmp_path):
    _make(engine, tmp_path / "right.mp4", RIGHT)
    both = _make(engine, tmp_path / "up.mp4", "moving up", extend=tmp_path / "right.mp4")
    _continuous_at(_centres(both), 16)
    # Only the motion is named: it is still the large red circle on blue.
    assert _color_share(both[16:], "red") > 0.04 and _color_share(both[16:], "yellow") < 0.005
    assert np.abs(both[16:, 0, 0] - BLUE).sum(-1).max() < 40


def test_extend_again_with_the_same_prompt_lets_its_motion_go_on(engine, tmp_path, monkeypatch):
    _make(engine, tmp_path / "right.mp4", RIGHT)
    _make(engine, tmp_path / "up.mp4", INTO, extend=tmp_path / "right.mp4")
    monkeypatch.setattr(engine, "_sample", lambda *a: pytest.fail("the same prompt samples nothing new"))
    again = _make(engine, tmp_path / "more.mp4", INTO, extend=tmp_path / "up.mp4", seconds=2)
    assert len(again) == 48
    centres = _centres(again)
    _continuous_at(centres, 32)
    assert abs(centres[47, 0] - centres[31, 0]) < 3 and np.ptp(centres[32:, 1]) > 5  # still up and down only
    assert _segments(tmp_path / "more.mp4") == _segments(tmp_path / "up.mp4")


def test_recut_keeps_the_clip_to_the_cut_and_continues_from_there(engine, tmp_path):
    _make(engine, tmp_path / "right.mp4", RIGHT)
    source = _make(engine, tmp_path / "up.mp4", INTO, extend=tmp_path / "right.mp4")
    recut = _make(engine, tmp_path / "left.mp4", LEFT, extend=tmp_path / "up.mp4", extend_at=1.0)
    assert len(recut) == 8 + 16  # the cut's 1 s and 2 s more
    assert np.abs(recut[:8] - source[:8]).mean() < 3
    centres = _centres(recut)
    _continuous_at(centres, 8)
    assert centres[8, 0] - centres[23, 0] > 20 and abs(centres[23, 1] - centres[8, 1]) < 3  # left from the cut
    segments = _segments(tmp_path / "left.mp4")
    assert [s["start"] for s in segments] == [0, 1]  # what followed the cut is gone


def test_recut_with_the_prompt_at_the_cut_redraws_what_was_there(engine, tmp_path):
    first = _make(engine, tmp_path / "right.mp4", RIGHT)
    _make(engine, tmp_path / "up.mp4", INTO, extend=tmp_path / "right.mp4")
    recut = _make(engine, tmp_path / "recut.mp4", RIGHT, extend=tmp_path / "up.mp4", extend_at=1.0)
    assert len(recut) == 24
    assert np.abs(recut[:16] - first).mean() < 3  # the first shot's law, drawn on past the cut
    assert _segments(tmp_path / "recut.mp4") == _segments(tmp_path / "right.mp4")


def test_a_clip_tagged_before_segments_is_continued(engine, tmp_path, monkeypatch):
    """Clips made before segments carry one scene, and their prompt where it was published."""
    frames = _make(engine, tmp_path / "new.mp4", RIGHT)
    (segment,) = _segments(tmp_path / "new.mp4")
    old_tag = {**segment["scene"], "seconds": 2.0, "aspect": 16 / 9, "loop": False}
    with Mp4Writer(tmp_path / "old.mp4", 128, 72, FPS, {SCENE_TAG: json.dumps(old_tag), "prompt": RIGHT}) as writer:
        for frame in frames:
            writer.write(frame.astype(np.uint8))
    monkeypatch.setattr(engine, "_sample", lambda *a: pytest.fail("the same prompt samples nothing new"))
    both = _make(engine, tmp_path / "both.mp4", RIGHT, extend=tmp_path / "old.mp4")
    _continuous_at(_centres(both), 16)
    assert _segments(tmp_path / "both.mp4") == [segment]


# ---------------------------------------------------------------------------------------------
# Follows: storyboard shots


def test_chained_shots_each_start_where_the_one_before_ends(engine, tmp_path):
    """A bounce, one going on in another prompt's words, a move from mid-hop, the same move
    again, and a bounce starting from where the object is: each shot's first frame is where the
    shot before would have drawn its object next (read from an extension of it)."""
    shots = [BOUNCE, HOP, LEFT, LEFT, BOUNCE]
    _make(engine, tmp_path / "0.mp4", shots[0])
    for index, prompt in enumerate(shots[1:], start=1):
        before = tmp_path / f"{index - 1}.mp4"
        shot = _make(engine, tmp_path / f"{index}.mp4", prompt, follows=before)
        assert len(shot) == 16  # nothing of the shot before is written
        assert [s["start"] for s in _segments(tmp_path / f"{index}.mp4")] == [0]
        going_on = _make(engine, tmp_path / f"{index}-on.mp4", shots[index - 1], extend=before)
        assert np.linalg.norm(_centres(shot[:1]) - _centres(going_on[16:17])) < 1
    assert np.ptp(_centres(_frames(tmp_path / "1.mp4"))[:, 1]) > 10  # the hop goes on
    left = _centres(_frames(tmp_path / "2.mp4"))
    assert left[0, 0] - left[-1, 0] > 20  # the third shot moves left, as its prompt says


def test_a_loop_can_start_where_a_shot_ends(engine, tmp_path):
    _make(engine, tmp_path / "shot.mp4", RIGHT)
    loop = _make(engine, tmp_path / "loop.mp4", UP, follows=tmp_path / "shot.mp4", loop=True, seconds=3)
    going_on = _make(engine, tmp_path / "on.mp4", RIGHT, extend=tmp_path / "shot.mp4")
    assert np.linalg.norm(_centres(loop[:1]) - _centres(going_on[16:17])) < 1
    step = np.median(np.abs(np.diff(loop, axis=0)).mean(axis=(1, 2, 3)))
    assert step > 0.2 and np.abs(loop[-1] - loop[0]).mean() < 2 * step  # and flows from its end into its start
    assert _segments(tmp_path / "loop.mp4")[0]["loop"]


# ---------------------------------------------------------------------------------------------
# Edit


def test_edit_keeps_the_motion_and_changes_the_color(engine, tmp_path):
    _make(engine, tmp_path / "right.mp4", RIGHT)
    source = _make(engine, tmp_path / "down.mp4", "moving down", extend=tmp_path / "right.mp4")
    edited = _make(engine, tmp_path / "green.mp4", "a green circle", video=tmp_path / "down.mp4", seconds=None)
    assert len(edited) == len(source) == 32  # as long as the clip
    assert np.abs(_centres(edited) - _centres(source)).max() < 2  # all of its motion, both segments
    assert _color_share(edited, "green") > 0.04 and _color_share(edited, "red") < 0.005
    # No size and no background named: the object's size and the background stay.
    assert abs(_color_share(edited, "green") - _color_share(source, "red")) < 0.02
    assert np.abs(edited[:, 0, 0] - BLUE).sum(-1).max() < 40


def test_edit_naming_a_size_and_background_changes_them(engine, tmp_path):
    source = _make(engine, tmp_path / "right.mp4", RIGHT)
    edited = _make(engine, tmp_path / "green.mp4", GREEN, video=tmp_path / "right.mp4", seconds=None)
    assert np.abs(edited[:, 0, 0] - world.BACKGROUNDS["gray"]).sum(-1).max() < 40
    assert _color_share(edited, "green") < 0.5 * _color_share(source, "red")  # small now
    assert np.abs(_centres(edited) - _centres(source)).max() < 2


def test_edit_of_a_loop_is_a_loop(engine, tmp_path):
    loop = _make(engine, tmp_path / "loop.mp4", RIGHT, loop=True, seconds=3)
    edited = _make(engine, tmp_path / "green.mp4", "a green circle", video=tmp_path / "loop.mp4", seconds=None)
    assert len(edited) == len(loop) == 24
    assert _segments(tmp_path / "green.mp4")[0]["loop"]
    step = np.median(np.abs(np.diff(edited, axis=0)).mean(axis=(1, 2, 3)))
    assert np.abs(edited[-1] - edited[0]).mean() < 2 * step


# ---------------------------------------------------------------------------------------------
# Blend


def test_blend_is_a_then_a_transition_then_b(engine, tmp_path):
    a = _make(engine, tmp_path / "a.mp4", RIGHT)
    b = _make(engine, tmp_path / "b.mp4", INTO, seconds=3)
    blend = _make(engine, tmp_path / "blend.mp4", RIGHT, extend=tmp_path / "a.mp4", blend_into=tmp_path / "b.mp4")
    assert len(blend) == 16 + 16 + 24
    assert np.abs(blend[:16] - a).mean() < 3 and np.abs(blend[32:] - b).mean() < 3
    centres = _centres(blend)
    _continuous_at(centres, 16)
    _continuous_at(centres, 32)
    # The transition goes from A's look to B's: red on blue, then yellow on gray.
    assert _color_share(blend[17:20], "red") > _color_share(blend[29:32], "red")
    assert np.abs(blend[31, 0, 0] - world.BACKGROUNDS["gray"]).sum() < np.abs(blend[17, 0, 0] - world.BACKGROUNDS["gray"]).sum()
    segments = _segments(tmp_path / "blend.mp4")
    assert [s["start"] for s in segments] == [0, 2, 4] and "before" in segments[1]


def test_what_only_one_side_of_a_blend_has_shrinks_away(engine, tmp_path):
    a = _make(engine, tmp_path / "pair.mp4", PAIR)  # a red star and a yellow square; B has one red circle
    _make(engine, tmp_path / "b.mp4", RIGHT)
    blend = _make(engine, tmp_path / "blend.mp4", RIGHT, extend=tmp_path / "pair.mp4", blend_into=tmp_path / "b.mp4")
    yellow = [_color_share(frame[None], "yellow") for frame in blend[15:33]]
    assert yellow[0] == pytest.approx(_color_share(a[-1:], "yellow"), abs=0.002) and yellow[-1] == 0
    assert (np.diff(yellow) <= 0.001).all()  # it shrinks, no jump


def test_a_blend_counts_only_the_frames_it_paints(engine, tmp_path):
    _make(engine, tmp_path / "a.mp4", RIGHT)
    _make(engine, tmp_path / "b.mp4", INTO)
    the_plan = plan(Request.build(prompt=RIGHT, seed=3, steps=2, seconds=2, extend=tmp_path / "a.mp4",
                                  blend_into=tmp_path / "b.mp4"), engine.capabilities, engine.id)
    calls = []
    frames = list(engine.generate(the_plan, 3, lambda step, total: calls.append((step, total)), lambda: False))
    assert len(frames) == 48 and calls == [(1, 2), (2, 2)]


def test_an_extension_with_a_new_prompt_counts_the_sampler_and_the_painting(engine, tmp_path):
    _make(engine, tmp_path / "a.mp4", RIGHT)
    the_plan = plan(Request.build(prompt=UP, seed=3, steps=2, seconds=2, extend=tmp_path / "a.mp4"),
                    engine.capabilities, engine.id)
    calls = []
    list(engine.generate(the_plan, 3, lambda step, total: calls.append((step, total)), lambda: False))
    assert calls == [(1, 4), (2, 4), (3, 4), (4, 4)]


# ---------------------------------------------------------------------------------------------
# Refusals that name the field


def _other_clip(path, size=(64, 64), tags=None) -> None:
    with Mp4Writer(path, *size, FPS, tags) as writer:
        for _ in range(16):
            writer.write(np.zeros((size[1], size[0], 3), np.uint8))


@pytest.mark.parametrize("fields, field, words", [
    ({"video": "other.mp4"}, "video", "edits only clips it made itself"),
    ({"extend": "a.mp4", "blend_into": "other.mp4"}, "blend_into", "blends only clips it made itself"),
    ({"extend": "other.mp4", "blend_into": "a.mp4"}, "extend", "blends only clips it made itself"),
    ({"follows": "other.mp4"}, "follows", "continues only clips it made itself"),
    ({"extend": "a.mp4", "blend_into": "square.mp4"}, "blend_into", "blends clips of one aspect"),
    ({"extend": "loop.mp4"}, "extend", "a loop has no end"),
    ({"video": "a.mp4", "loop": True}, "loop", "loops where the clip does"),
])
def test_what_the_built_in_model_cannot_do_is_refused_naming_the_field(engine, tmp_path, fields, field, words):
    clips = {"other.mp4": lambda path: _other_clip(path, size=(128, 72)),
             "a.mp4": lambda path: _make(engine, path, RIGHT),
             "square.mp4": lambda path: _make(engine, path, RIGHT, size="64x64"),
             "loop.mp4": lambda path: _make(engine, path, RIGHT, loop=True)}
    for name in fields.values():
        if name in clips:
            clips[name](tmp_path / name)
    fields = {key: tmp_path / value if isinstance(value, str) else value for key, value in fields.items()}
    with pytest.raises(InvalidRequest, match=words) as caught:
        _make(engine, tmp_path / "out.mp4", RIGHT, **fields)
    assert caught.value.field == field
    assert not (tmp_path / "out.mp4").exists()


SPOILERS = {
    "no length": lambda segment: segment.update(seconds=0),
    "late start": lambda segment: segment.update(start=1),
    "no such shape": lambda segment: segment["scene"].update(shape=[9, 0]),
    "no size": lambda segment: segment["scene"].update(radius=[0.0, 0.1]),
    "slots disagree": lambda segment: segment["scene"].update(x=[0.5, 0.5, 0.5]),
    "not a number": lambda segment: segment["scene"].update(x=[float("nan"), 0.5]),
    "no scene": lambda segment: segment.pop("scene"),
}


@pytest.mark.parametrize("spoil", SPOILERS.values(), ids=SPOILERS)
def test_a_clip_whose_scene_makes_no_sense_is_refused_like_one_from_elsewhere(engine, tmp_path, spoil):
    """A clip's tags are whatever its sender wrote: nonsense in them is a 400, never a crash."""
    _make(engine, tmp_path / "a.mp4", RIGHT)
    (segment,) = _segments(tmp_path / "a.mp4")
    spoil(segment)
    _other_clip(tmp_path / "odd.mp4", (128, 72), {SCENE_TAG: json.dumps({"aspect": 16 / 9, "segments": [segment]})})
    with pytest.raises(InvalidRequest, match="continues only clips it made itself"):
        _make(engine, tmp_path / "out.mp4", RIGHT, extend=tmp_path / "odd.mp4")
    assert describe_object(tmp_path / "odd.mp4") is None  # read from its pixels instead: black, nothing there


# ---------------------------------------------------------------------------------------------
# Characters


BOB = CharacterObject(name="Bob", shape="star", color="red", size="large")


@pytest.fixture(scope="module")
def shipped() -> BuiltinEngine:
    engine = BuiltinEngine()
    engine.load()
    return engine


def test_a_character_named_in_the_prompt_is_drawn_as_its_object(shipped, tmp_path):
    judged = []
    for seed in range(3):
        the_plan = plan(Request.build(prompt="@bob moving right on a blue background", seed=seed, size="128x72",
                                      seconds=2, fps=FPS, steps=12, characters=[BOB]), shipped.capabilities, shipped.id)
        generate_clips(shipped, the_plan, [tmp_path / f"{seed}.mp4"], lambda *a: None, sign=False)
        (drawn, *_) = judge(_frames(tmp_path / f"{seed}.mp4").astype(np.uint8)).objects
        judged.append((drawn.shape, drawn.color, drawn.size, drawn.motion))
    assert judged.count(("star", "red", "large", "moving right")) >= 2, judged


def test_prompt_notes_know_the_characters(shipped):
    assert shipped.prompt_notes("@Bob moving right", [BOB]) == []
    (note,) = shipped.prompt_notes("@Alice moving right", [BOB])
    assert "no character is named @Alice" in note


def test_describe_object_reads_a_built_in_clip_exactly(engine, tmp_path):
    _make(engine, tmp_path / "pair.mp4", PAIR)
    assert describe_object(tmp_path / "pair.mp4") == {"shape": "star", "color": "red", "size": "large"}
    assert describe_object(tmp_path / "pair.mp4", index=1) == {"shape": "square", "color": "yellow", "size": "small"}
    assert describe_object(tmp_path / "pair.mp4", index=2) is None


def test_describe_object_reads_an_image_or_another_video(tmp_path):
    image = Image.new("RGB", (96, 96), "white")
    ImageDraw.Draw(image).ellipse((28, 28, 68, 68), fill=world.COLORS["red"])
    image.save(tmp_path / "circle.png")
    assert describe_object(tmp_path / "circle.png") == {"shape": "circle", "color": "red", "size": "large"}
    with Mp4Writer(tmp_path / "clip.mp4", 96, 96, FPS) as writer:  # made elsewhere: read from its pixels
        for _ in range(8):
            writer.write(np.asarray(image))
    assert describe_object(tmp_path / "clip.mp4", at=0.5) == {"shape": "circle", "color": "red", "size": "large"}
    Image.new("RGB", (96, 96), "white").save(tmp_path / "blank.png")
    (tmp_path / "notes.txt").write_text("not a picture")
    assert describe_object(tmp_path / "blank.png") is None and describe_object(tmp_path / "notes.txt") is None
