import dataclasses
import math
import random

import pytest
import torch

from ungated.engines.builtin import motion, tracks, world

ASPECTS = {"16:9": 16 / 9, "9:16": 9 / 16, "1:1": 1.0, "4:3": 4 / 3}
CLIPS = {"2 s at 8 fps": (2, 8), "10 s at 24 fps": (10, 24)}


def _centroid(clip: torch.Tensor, color: str) -> list[tuple[float, float]]:
    """Per-frame centre of the pixels close to a named color, in pixels."""
    target = world.color_values(world.COLORS[color])
    out = []
    for frame in clip:
        mask = ((frame - target[:, None, None]).abs().sum(0) < 0.15).float()
        ys, xs = torch.nonzero(mask, as_tuple=True)
        out.append((xs.float().mean().item(), ys.float().mean().item()))
    return out


def _laid_out(scenes: list[world.Scene], aspect: float, seed: int) -> dict[str, torch.Tensor]:
    return world.as_tensors(scenes, world.scene_params(scenes, [aspect] * len(scenes), random.Random(seed)), 2)


def _paths(p: dict[str, torch.Tensor], aspect: float, seconds: float, fps: int) -> dict[str, torch.Tensor]:
    return motion.simulate(p, p["shape"], world.frame_times(round(seconds * fps), fps), seconds, aspect)


def _outline(shape: str) -> torch.Tensor:
    """Points [V, 2] at unit size whose hull is the shape's outline (the circle finely sampled)."""
    if shape == "circle":
        turn = torch.linspace(0, 2 * math.pi, 257)[:-1]
        return torch.stack([turn.cos(), turn.sin()], -1)
    return torch.tensor([point for piece in world._convex_pieces(shape) for point in piece])


def test_captions_read_as_english():
    scene = world.Scene((world.ShapeSpec("circle", "red", "small", "moving right"),), "orange")
    assert scene.caption() == "a small red circle moving right on an orange background"


def test_pairs_speeds_and_relations_read_as_english():
    red = world.ShapeSpec("circle", "red", "small", "moving left", "quickly")
    blue = world.ShapeSpec("square", "blue", "large", "moving left", "quickly")
    assert world.Scene((red, blue), "black").caption() == (
        "a small red circle moving left quickly and a large blue square moving left quickly on a black background")
    assert world.Scene((red, blue), "black", shared=True).caption() == (
        "a small red circle and a large blue square moving left quickly on a black background")
    still = [dataclasses.replace(o, motion="standing still", speed="") for o in (red, blue)]
    assert world.Scene(tuple(still), "white", relation="above").caption() == (
        "a small red circle above a large blue square on a white background")


@pytest.mark.parametrize("aspect", ASPECTS.values(), ids=ASPECTS.keys())
def test_sampled_pairs_never_touch_and_keep_their_relation(aspect):
    rng = random.Random(5)
    pairs = [world.sample_pair(rng, "black", aspect=aspect) for _ in range(150)]
    assert {(bool(s.relation), s.shared) for s in pairs} == {(False, False), (False, True), (True, False)}
    p = _laid_out(pairs, aspect, seed=6)
    width, height = motion.extents(aspect)
    outer = torch.tensor([world.OUTER_RADIUS[s] for s in world.SHAPES])[p["shape"]]  # [B, 2]
    for seconds, fps in CLIPS.values():
        paths = _paths(p, aspect, seconds, fps)
        x, y = paths["x"] * width, paths["y"] * height
        apart = torch.hypot(x[:, 0] - x[:, 1], y[:, 0] - y[:, 1])
        reach = outer[:, 0, None] * paths["radius"][:, 0] + outer[:, 1, None] * paths["radius"][:, 1]
        assert (apart - reach).min() > world.PAIR_GAP / 2, (seconds, fps)
    for b, scene in enumerate(pairs):
        dx, dy = (p["x"][b, 1] - p["x"][b, 0]) * width, (p["y"][b, 1] - p["y"][b, 0]) * height  # shorter-side units
        along = {"left of": dx, "right of": -dx, "above": dy, "below": -dy}.get(scene.relation, 1)
        assert along >= world.RELATION_OFFSET
        if scene.shared:
            assert scene.objects[0].how() == scene.objects[1].how()


@pytest.mark.parametrize("aspect", ASPECTS.values(), ids=ASPECTS.keys())
def test_every_object_stays_in_view_in_every_frame(aspect):
    """Objects turn back when their circle of EDGE_REACH radii meets the edge, so a star's or a
    triangle's tip may just touch past it: by at most 2% of the frame's shorter side."""
    rng = random.Random(2)
    scenes = [world.sample_scene(rng, aspect=aspect) for _ in range(400)]
    p = _laid_out(scenes, aspect, seed=3)
    width, height = motion.extents(aspect)
    outlines = [_outline(s) for s in world.SHAPES]
    for seconds, fps in CLIPS.values():
        paths = _paths(p, aspect, seconds, fps)
        for b, scene in enumerate(scenes):
            for k, spec in enumerate(scene.objects):
                points = outlines[world.SHAPES.index(spec.shape)]
                angle, radius = paths["angle"][b, k, :, None], paths["radius"][b, k, :, None]
                cos, sin = angle.cos(), angle.sin()
                # Turned as the renderer turns it (y down), in units of the shorter side.
                xs = paths["x"][b, k, :, None] * width + radius * (cos * points[:, 0] - sin * points[:, 1])
                ys = paths["y"][b, k, :, None] * height + radius * (sin * points[:, 0] + cos * points[:, 1])
                overshoot = max(-xs.min().item(), xs.max().item() - width, -ys.min().item(), ys.max().item() - height)
                assert overshoot <= 0.02, f"{spec.phrase()} leaves the frame by {overshoot:.4f} ({seconds} s at {fps} fps)"


def test_the_motion_law_goes_on_past_the_clip_and_turns_back_at_the_edge():
    rng = random.Random(4)
    aspect, seconds = 16 / 9, 2.0
    scenes = [world.Scene((world.sample_object(rng, "black", motion=m, speed=s),), "black")
              for m in world.MOTIONS for s in (world.SPEEDS if m in world.MOVES else [""]) for _ in range(3)]
    p = _laid_out(scenes, aspect, seed=5)
    times = torch.arange(0, 8 * seconds, 1 / 200)  # the clip, then seven clips' worth of extension
    paths = motion.simulate(p, p["shape"], times, seconds, aspect)
    width, height = motion.extents(aspect)
    reach = p["radius"] * motion.largest_scale(p["scale"], p["growth"]) * motion.EDGE_REACH
    for name, extent, travel in (("x", width, p["vx"]), ("y", height, p["vy"])):
        path = paths[name][:, 0]
        steps = path.diff(dim=-1).abs()
        speed = travel[:, 0, None].abs() / seconds / 200  # per step; a bounce's is its own
        moving = travel[:, 0] != 0
        assert torch.all(steps[moving] <= speed[moving] * 1.001 + 1e-6), f"{name} jumps"  # continuous, same pace
        margin = reach[:, 0, None] / extent
        assert torch.all(path[moving] >= margin[moving] - 1e-6) and torch.all(path[moving] <= 1 - margin[moving] + 1e-6)
        turned = (path.diff(dim=-1) * travel[:, 0, None].sign() < 0).any(-1)
        assert torch.all(turned[moving]), f"every move along {name} turns back at the edge"
    # Growth stops at its end of GROW_RANGE, bounces and spins keep their rhythm.
    after = times > seconds
    for b, scene in enumerate(scenes):
        how, radius = scene.objects[0].motion, paths["radius"][b, 0]
        if how in ("growing", "shrinking"):
            end = motion.GROW_RANGE[1] if how == "growing" else motion.GROW_RANGE[0]
            torch.testing.assert_close(radius[after], torch.full_like(radius[after], p["radius"][b, 0] * end))
        if how == "bouncing":
            y = paths["y"][b, 0]
            torch.testing.assert_close(y[200:], y[:-200], atol=1e-4, rtol=0)  # one hop a second, clip or not
        if how == "spinning":
            turn = paths["angle"][b, 0].diff()
            torch.testing.assert_close(turn, torch.full_like(turn, motion.SPIN_RATE / 200), atol=1e-5, rtol=0)


@pytest.mark.parametrize("aspect", [16 / 9, 9 / 16], ids=["16:9", "9:16"])
def test_speed_words_cross_a_share_of_the_frame_whatever_the_clip_length(aspect):
    width, height = (128, 72) if aspect > 1 else (72, 128)
    for how, axis, extent in (("moving right", 0, width), ("moving down", 1, height)):
        for speed, share in world.SPEEDS.items():
            scene = world.Scene((world.ShapeSpec("circle", "red", "small", how, speed),), "black")
            for seconds, fps in CLIPS.values():
                frames = seconds * fps
                centres = _centroid(world.render([scene], frames, width, height, seed=1, fps=fps)[0], "red")
                travel = (centres[-1][axis] - centres[0][axis]) / extent * frames / (frames - 1)
                assert travel == pytest.approx(share, abs=0.02), (how, speed, seconds)


def test_every_caption_word_is_in_the_vocabulary():
    rng = random.Random(0)
    vocab = set(world.vocabulary())
    for _ in range(200):
        assert set(world.sample_scene(rng).caption().split()) <= vocab


def test_background_and_object_colors_are_drawn():
    scene = world.Scene((world.ShapeSpec("square", "green", "large", "standing still"),), "blue")
    clip = world.render([scene], 4, 96, 54, seed=0)[0]
    assert clip.shape == (4, 3, 54, 96)
    corner = ((clip[0, :, 0, 0] + 1) * 127.5).round().tolist()
    assert corner == list(world.COLORS["blue"])
    assert len(_centroid(clip, "green")) == 4


def test_motions_move_the_right_way():
    def track(how: str) -> list[tuple[float, float]]:
        scene = world.Scene((world.ShapeSpec("circle", "red", "small", how),), "black")
        return _centroid(world.render([scene], 16, 64, 64, seed=1)[0], "red")

    right, left, up, down = track("moving right"), track("moving left"), track("moving up"), track("moving down")
    assert right[-1][0] - right[0][0] > 20
    assert left[0][0] - left[-1][0] > 20
    assert up[0][1] - up[-1][1] > 20
    assert down[-1][1] - down[0][1] > 20
    still = track("standing still")
    assert abs(still[-1][0] - still[0][0]) < 0.5


def test_growing_objects_get_bigger():
    scene = world.Scene((world.ShapeSpec("star", "yellow", "small", "growing"),), "purple")
    clip = world.render([scene], 8, 64, 64, seed=2)[0]
    target = world.color_values(world.COLORS["yellow"])
    area = [((f - target[:, None, None]).abs().sum(0) < 0.15).sum().item() for f in clip]
    assert area[-1] > 3 * area[0]


def test_render_is_deterministic_per_seed():
    scenes = [world.sample_scene(random.Random(3)) for _ in range(2)]
    assert torch.equal(world.render(scenes, 8, 48, 32, seed=4), world.render(scenes, 8, 48, 32, seed=4))
    assert not torch.equal(world.render(scenes, 8, 48, 32, seed=4), world.render(scenes, 8, 48, 32, seed=5))


def test_training_never_draws_a_held_out_pair_and_evaluation_always_does():
    rng = random.Random(3)
    for _ in range(500):
        assert not any(world.is_held_out(o) for o in world.sample_scene(rng).objects)
        assert world.is_held_out(world.sample_object(rng, "black", held_out=True))
    # Every color and motion still appears with some shape in training.
    seen = [o for _ in range(2000) for o in world.sample_scene(rng).objects]
    assert {o.color for o in seen} == set(world.COLORS) and {o.motion for o in seen} == set(world.MOTIONS)


def test_spinning_starts_upright_so_its_angle_follows_from_time():
    still = world.Scene((world.ShapeSpec("square", "red", "large", "standing still"),), "black")
    spin = world.Scene((world.ShapeSpec("square", "red", "large", "spinning"),), "black")
    a, b = world.render([still], 8, 64, 64, seed=5)[0], world.render([spin], 8, 64, 64, seed=5)[0]
    assert torch.equal(a[0], b[0]) and not torch.equal(a[4], b[4])


def test_tracks_hold_each_object_in_caption_order_and_mark_missing_ones():
    scenes = [
        world.Scene((world.ShapeSpec("circle", "red", "small", "moving up"),), "blue"),
        world.Scene((world.ShapeSpec("square", "white", "large", "growing"),
                     world.ShapeSpec("star", "yellow", "small", "standing still")), "black"),
    ]
    encoded = tracks.encode(scenes, [16 / 9, 9 / 16], 2, seed=3)
    assert encoded[:, :2, -1].tolist() == [[1, -1], [1, 1]]
    decoded = tracks.decode(encoded)
    assert decoded["shape"].tolist() == [[0, 0], [1, 3]]
    assert decoded["present"].tolist() == [[True, False], [True, True]]
    assert torch.equal(encoded * ~tracks.value_mask(2), torch.zeros_like(encoded))
    paths = motion.simulate(decoded, decoded["shape"], world.frame_times(8, 8), 1.0, 16 / 9)
    x, y, radius = paths["x"][0, 0], paths["y"][0, 0], paths["radius"][1, 0]
    assert torch.all(y.diff() < 0) and torch.allclose(x, x[:1].expand(8))  # up, not sideways
    assert torch.all(radius.diff() > 0)  # growing


@pytest.mark.parametrize("aspect", ASPECTS.values(), ids=ASPECTS.keys())
def test_tracks_decode_to_the_worlds_own_numbers_and_paths(aspect):
    rng = random.Random(0)
    scenes = [world.sample_scene(rng, aspect=aspect) for _ in range(200)]
    aspects = [aspect] * len(scenes)
    true = tracks.true_params(scenes, aspects, 2, seed=1)
    assert torch.equal(true["x"], _laid_out(scenes, aspect, seed=1)["x"])  # the numbers world.render draws
    kept = tracks.decode(tracks.encode(scenes, aspects, 2, seed=1))
    present = true["present"]
    for name in ("x", "y", "radius", "scale", "growth", "angle", "vx", "vy", "spin", "bounce"):
        torch.testing.assert_close(kept[name][present], true[name][present], msg=name)
    # A hop looks the same from phase and phase + pi: compare what the bounce does with it.
    torch.testing.assert_close(torch.sin(2 * kept["phase"][present]), torch.sin(2 * true["phase"][present]))
    torch.testing.assert_close(torch.cos(2 * kept["phase"][present]), torch.cos(2 * true["phase"][present]))
    for name in ("shape", "present"):
        assert torch.equal(kept[name], true[name]), name
    torch.testing.assert_close(kept["color"][present], true["color"][present])
    torch.testing.assert_close(kept["background"], true["background"])
    for seconds, fps in CLIPS.values():
        a, b = _paths(kept, aspect, seconds, fps), _paths(true, aspect, seconds, fps)
        for name in ("x", "y", "radius", "angle"):
            torch.testing.assert_close(a[name][present], b[name][present], atol=1e-5, rtol=1e-5, msg=name)
