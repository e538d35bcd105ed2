import dataclasses
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


def test_layout_is_a_downscaled_disc_on_the_same_path():
    scene = world.Scene((world.ShapeSpec("star", "green", "large", "moving right"),), "purple")
    real = world.render([scene], 16, 64, seed=6)[0]
    layout = tracks.draw_layouts(tracks.encode([scene], 16, 2, seed=6), 16, 64, 4)[0]
    assert layout.shape == (16, 3, 16, 16)
    disc = world.render([world.Scene((dataclasses.replace(scene.objects[0], shape="circle"),), "purple")], 16, 64, seed=6)[0]
    torch.testing.assert_close(layout, torch.nn.functional.avg_pool2d(disc, 4))
    # The disc and the star travel together: their centres agree within a layout pixel.
    stars, dots = _centroid(real, "green"), _centroid(torch.nn.functional.interpolate(layout, scale_factor=4), "green")
    for star, dot in zip(stars, dots):
        assert abs(star[0] - dot[0]) < 4 and abs(star[1] - dot[1]) < 4
    assert stars[-1][0] - stars[0][0] > 20


def test_tracks_hold_each_object_in_caption_order_and_mark_missing_ones():
    scenes = [
        world.Scene((world.ShapeSpec("circle", "red", "small", "moving up"),), "blue"),
        world.Scene((world.ShapeSpec("square", "white", "large", "growing"),
                     world.ShapeSpec("star", "yellow", "small", "standing still")), "black"),
    ]
    encoded = tracks.encode(scenes, 8, 2, seed=3)
    presence = encoded[:, :2, -1]
    assert presence.tolist() == [[1, -1], [1, 1]]
    x, y, radius = encoded[0, 0, :8], encoded[0, 0, 8:16], encoded[1, 0, 16:24]
    assert torch.all(y.diff() < 0) and torch.allclose(x, x[:1].expand(8))  # up, not sideways
    assert torch.all(radius.diff() > 0)  # growing
    assert torch.equal(encoded * ~tracks.value_mask(8, 2), torch.zeros_like(encoded))
    layouts = tracks.draw_layouts(encoded, 8, 64, 4)
    assert layouts.shape == (2, 8, 3, 16, 16)
