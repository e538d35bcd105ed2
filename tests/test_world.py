import dataclasses
import math
import random

import torch

from ungated.engines.builtin import tracks, world


def _centroid(clip: torch.Tensor, color: str) -> list[tuple[float, float]]:
    """Per-frame centre of the pixels close to a named color, in pixels."""
    target = torch.tensor(world.COLORS[color], dtype=torch.float32) / 127.5 - 1
    out = []
    for frame in clip:
        mask = ((frame - target[:, None, None]).abs().sum(0) < 0.15).float()
        ys, xs = torch.nonzero(mask, as_tuple=True)
        out.append((xs.float().mean().item(), ys.float().mean().item()))
    return out


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


def test_sampled_pairs_never_touch_and_keep_their_relation():
    rng = random.Random(5)
    pairs = [world.sample_pair(rng, "black") for _ in range(150)]
    assert {(bool(s.relation), s.shared) for s in pairs} == {(False, False), (False, True), (True, False)}
    for scene, (first, second) in zip(pairs, world.paths(pairs, 16, random.Random(6))):
        a, b = (world.OUTER_RADIUS[o.shape] for o in scene.objects)
        assert all(math.dist(p[:2], q[:2]) >= a * p[2] + b * q[2] for p, q in zip(first, second))
        dx, dy = second[0][0] - first[0][0], second[0][1] - first[0][1]
        along = {"left of": dx, "right of": -dx, "above": dy, "below": -dy}.get(scene.relation, 1)
        assert along >= world.RELATION_OFFSET
        if scene.shared:
            assert scene.objects[0].how() == scene.objects[1].how()


def test_speed_words_set_how_far_a_move_goes():
    def travel(speed: str) -> float:
        scene = world.Scene((world.ShapeSpec("circle", "red", "small", "moving right", speed),), "black")
        xs = _centroid(world.render([scene], frames=16, size=64, seed=1)[0], "red")
        return xs[-1][0] - xs[0][0]

    slow, usual, quick = travel("slowly"), travel(""), travel("quickly")
    assert 10 < slow < usual - 5 and usual < quick - 5


def test_every_caption_word_is_in_the_vocabulary():
    rng = random.Random(0)
    vocab = set(world.vocabulary())
    for _ in range(200):
        assert set(world.sample_scene(rng).caption().split()) <= vocab


def test_background_and_object_colors_are_drawn():
    scene = world.Scene((world.ShapeSpec("square", "green", "large", "standing still"),), "blue")
    clip = world.render([scene], frames=4, size=64, seed=0)[0]
    corner = ((clip[0, :, 0, 0] + 1) * 127.5).round().tolist()
    assert corner == list(world.COLORS["blue"])
    assert len(_centroid(clip, "green")) == 4


def test_motions_move_the_right_way():
    def track(motion: str) -> list[tuple[float, float]]:
        scene = world.Scene((world.ShapeSpec("circle", "red", "small", motion),), "black")
        return _centroid(world.render([scene], frames=16, size=64, seed=1)[0], "red")

    right, left, up, down = track("moving right"), track("moving left"), track("moving up"), track("moving down")
    assert right[-1][0] - right[0][0] > 20
    assert left[0][0] - left[-1][0] > 20
    assert up[0][1] - up[-1][1] > 20
    assert down[-1][1] - down[0][1] > 20
    still = track("standing still")
    assert abs(still[-1][0] - still[0][0]) < 0.5


def test_growing_objects_get_bigger():
    scene = world.Scene((world.ShapeSpec("star", "yellow", "small", "growing"),), "purple")
    clip = world.render([scene], frames=8, size=64, seed=2)[0]
    target = torch.tensor(world.COLORS["yellow"]) / 127.5 - 1
    area = [((f - target[:, None, None]).abs().sum(0) < 0.15).sum().item() for f in clip]
    assert area[-1] > 3 * area[0]


def test_render_is_deterministic_per_seed():
    scenes = [world.sample_scene(random.Random(3)) for _ in range(2)]
    assert torch.equal(world.render(scenes, 8, 32, seed=4), world.render(scenes, 8, 32, seed=4))
    assert not torch.equal(world.render(scenes, 8, 32, seed=4), world.render(scenes, 8, 32, seed=5))


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
    a, b = world.render([still], 8, 64, seed=5)[0], world.render([spin], 8, 64, seed=5)[0]
    assert torch.equal(a[0], b[0]) and not torch.equal(a[4], b[4])


def test_tracks_hold_each_object_in_caption_order_and_mark_missing_ones():
    scenes = [
        world.Scene((world.ShapeSpec("circle", "red", "small", "moving up"),), "blue"),
        world.Scene((world.ShapeSpec("square", "white", "large", "growing"),
                     world.ShapeSpec("star", "yellow", "small", "standing still")), "black"),
    ]
    encoded = tracks.encode(scenes, 8, 2, seed=3)
    presence = encoded[:, :2, -1]
    assert presence.tolist() == [[1, -1], [1, 1]]
    decoded = tracks.decode(encoded, 8)
    x, y, radius = decoded["x"][0, 0], decoded["y"][0, 0], decoded["radius"][1, 0]
    assert torch.all(y.diff() < 0) and torch.allclose(x, x[:1].expand(8))  # up, not sideways
    assert torch.all(radius.diff() > 0)  # growing
    assert decoded["shape"].tolist() == [[0, 0], [1, 3]]
    assert decoded["present"].tolist() == [[True, False], [True, True]]
    assert torch.equal(encoded * ~tracks.value_mask(2), torch.zeros_like(encoded))
    # Decoding gives back the world's own paths (frame units).
    path = world.paths(scenes, 8, random.Random(3))[1][0]
    torch.testing.assert_close(decoded["radius"][1, 0], torch.tensor([p[2] for p in path]))


def test_cosine_tracks_keep_the_worlds_paths():
    rng = random.Random(0)
    scenes = [world.sample_scene(rng) for _ in range(300)]
    true = tracks.true_paths(scenes, 16, 2, seed=1)
    kept = tracks.decode(tracks.encode(scenes, 16, 2, seed=1), 16)
    present = true["present"][..., None]
    for name in ("x", "y", "radius"):
        error_px = (kept[name] - true[name]).abs() * present * 64
        assert error_px.sum() / (present.sum() * 16) < 0.2, name
    # Only a bounce's sharp turn at the floor needs more cosines than the track has.
    assert ((kept["x"] - true["x"]).abs() * present * 64).max() < 0.5
