"""Storyboards (/api/boards) against a real `ungated serve` with the built-in model at a tiny size:
a board made shot by shot into one signed MP4 whose manifest lists every shot, seams that
continue, one shot regenerated and the timeline changed without redoing the others, refusals that
name the field, and boards that only their owner sees. And, in process: two movers of one board
never queue a shot twice, a shot's character reaches its take, and clips of one format are joined
by stream copy, others encoded again."""

from __future__ import annotations

import itertools
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import av
import httpx
import numpy as np
import pytest
from sqlalchemy import select

from ungated.api.director import MAKING, Director
from ungated.api.service import ServiceConfig, Studio
from ungated.jobs.schema import Board, Character, Video
from ungated.jobs.storage import Storage
from ungated.media.encode import Mp4Writer
from ungated.media.stitch import stitch

from .service import Server
from .test_studio_api import create_key

SETTINGS = {"size": "128x72", "fps": 8, "steps": 4, "seed": 5}
PROMPTS = ["a large red circle moving right on a blue background",
           "a large red circle moving down on a blue background",
           "a large red circle moving left on a blue background"]


def made(api: httpx.Client, board_id: str) -> dict:
    """The board once it is made (or has failed)."""
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        board = api.get(f"/api/boards/{board_id}").json()
        assert 0 <= board["progress"] <= 100
        if board["status"] in ("completed", "failed"):
            return board
        time.sleep(0.3)
    raise AssertionError(f"the board was not made in time: {board}")


def frames_of(api: httpx.Client, video_id: str, folder: Path) -> list[np.ndarray]:
    clip = folder / f"{video_id}.mp4"
    clip.write_bytes(api.get(f"/v1/videos/{video_id}/content").content)
    with av.open(str(clip)) as container:
        return [frame.to_ndarray(format="rgb24") for frame in container.decode(video=0)]


def red_centroid(frame: np.ndarray) -> np.ndarray:
    """Where the red object is: the centroid of its pixels."""
    r, g, b = (frame[..., channel].astype(int) for channel in range(3))
    ys, xs = np.nonzero((r > 150) & (g < 110) & (b < 110))
    assert len(xs), "no red object in the frame"
    return np.array([xs.mean(), ys.mean()])


def test_a_board_is_made_stitched_signed_and_remade_shot_by_shot(server, tmp_path):
    api = httpx.Client(base_url=server.base, timeout=60)
    api.put("/api/me", json={"artist": "Ada"})
    board = api.post("/api/boards", json={"title": "Red circle", "model": "builtin", "settings": SETTINGS,
                                          "shots": [{"prompt": p, "seconds": 2} for p in PROMPTS]}).json()
    assert board["status"] == "draft" and board["progress"] == 0 and board["result"] is None
    assert [shot["status"] for shot in board["shots"]] == ["pending"] * 3
    assert [shot["seed"] for shot in board["shots"]] == [5, 6, 7]  # the board's seed plus the shot's place
    shot_ids = [shot["id"] for shot in board["shots"]]
    assert api.post(f"/api/boards/{board['id']}/make").json()["status"] == "making"

    # 1. Three takes, each following the one before, stitched into one clip.
    board = made(api, board["id"])
    assert board["status"] == "completed" and board["progress"] == 100 and board["stitched"], board
    takes = [shot["video"] for shot in board["shots"]]
    assert all(shot["status"] == "completed" for shot in board["shots"])
    first_take = api.get(f"/api/videos/{takes[1]}").json()
    assert first_take["inputs"] == ["follows"] and first_take["public"] is False  # unlisted: the board is the work
    result = board["result"]
    assert result["status"] == "completed" and result["size"] == "128x72" and result["seconds"] == 6
    assert result["request"]["storyboard"] == board["id"] and result["artist"] == "Ada"
    assert result["id"] in [v["id"] for v in api.get("/api/me/videos").json()["data"]]
    frames = frames_of(api, result["id"], tmp_path)
    assert len(frames) == 3 * 16 and frames[0].shape == (72, 128, 3)
    shots = [frames[index * 16:(index + 1) * 16] for index in range(3)]
    for shot, take in zip(shots, takes):  # the stitched frames are the takes' own
        own = frames_of(api, take, tmp_path)
        assert np.array_equal(np.stack(shot), np.stack(own))  # their invisible watermarks included
    steps = [np.linalg.norm(red_centroid(a) - red_centroid(b)) for shot in shots for a, b in itertools.pairwise(shot)]
    for before, after in itertools.pairwise(shots):  # a seam jumps no further than the object moves in a frame
        assert np.linalg.norm(red_centroid(before[-1]) - red_centroid(after[0])) <= max(steps) + 2

    report = api.get(f"/api/videos/{result['id']}/provenance").json()
    manifest = report["manifest"]
    assert report["verdict"] == "signed" and manifest["state"] in ("Valid", "Trusted")
    assert manifest["artist"] == "Ada" and manifest["storyboard"] == board["id"]
    assert manifest["prompt"] == " / ".join(PROMPTS) and result["prompt"] == "Red circle"  # made of; its title
    assert [(i["title"], i["relationship"], i["video_id"]) for i in manifest["ingredients"]] == [
        (f"shot {n}", "componentOf", take) for n, take in enumerate(takes, 1)]

    # 2. Regenerating the middle shot makes only it again, and stitches the others' takes with it.
    again = api.post(f"/api/boards/{board['id']}/shots/{shot_ids[1]}/regenerate", json={}).json()
    assert again["status"] == "making" and again["shots"][1]["video"] not in (None, takes[1])
    assert again["progress"] < 100
    board = made(api, board["id"])
    now = [shot["video"] for shot in board["shots"]]
    assert board["status"] == "completed" and now[0] == takes[0] and now[2] == takes[2] and now[1] != takes[1]
    assert board["shots"][1]["seed"] != 6 and board["result"]["id"] != result["id"]
    report = api.get(f"/api/videos/{board['result']['id']}/provenance").json()
    assert [i["video_id"] for i in report["manifest"]["ingredients"]] == now
    assert api.get(f"/api/videos/{result['id']}").json()["status"] == "completed"  # the first cut stays

    # 3. Reordered, with the first shot made longer: only that shot is made again.
    timeline = [{"id": shot_ids[2]}, {"id": shot_ids[0], "seconds": 3}, {"id": shot_ids[1]}]
    changed = api.patch(f"/api/boards/{board['id']}", json={"title": "Round trip", "shots": timeline}).json()
    assert changed["status"] == "draft" and changed["title"] == "Round trip" and not changed["stitched"]
    assert [shot["id"] for shot in changed["shots"]] == [shot_ids[2], shot_ids[0], shot_ids[1]]
    assert [shot["video"] for shot in changed["shots"]] == [now[2], None, now[1]]
    api.post(f"/api/boards/{board['id']}/make")
    board = made(api, board["id"])
    assert board["status"] == "completed" and board["shots"][0]["video"] == now[2]
    assert board["shots"][2]["video"] == now[1] and board["shots"][1]["seconds"] == 3
    stitched = frames_of(api, board["result"]["id"], tmp_path)
    assert len(stitched) == 16 + 24 + 16
    assert [b["id"] for b in api.get("/api/boards").json()["data"]] == [board["id"]]

    # 4. The stitched clip carries its shots' scenes, so the built-in model extends it like its own.
    longer = api.post(f"/api/videos/{board['result']['id']}/extend",
                      json={"prompt": "a large red circle moving up on a blue background", "seconds": 2}).json()
    video_id = longer["data"][0]["id"]
    deadline = time.monotonic() + 60
    while api.get(f"/api/videos/{video_id}").json()["status"] not in ("completed", "failed"):
        assert time.monotonic() < deadline, "the extension was not made in time"
        time.sleep(0.3)
    assert api.get(f"/api/videos/{video_id}").json()["status"] == "completed"
    extended = frames_of(api, video_id, tmp_path)
    assert len(extended) == len(stitched) + 16
    assert np.linalg.norm(red_centroid(extended[len(stitched) - 1]) - red_centroid(extended[len(stitched)])) <= \
        max(steps) + 2


def test_refusals_name_the_field_and_boards_are_their_owners(tmp_path):
    server = Server(tmp_path, f"sqlite:///{tmp_path / 'store.db'}", workers=0).start()
    try:
        api = httpx.Client(base_url=server.base, timeout=30)
        shot = {"prompt": PROMPTS[0], "seconds": 2}
        cases = [
            ({"shots": []}, "shots"),
            ({"shots": [shot] * 25}, "shots"),
            ({"shots": [shot, shot, {"prompt": PROMPTS[0], "seconds": 1}]}, "shots.2.seconds"),
            ({"shots": [{"prompt": PROMPTS[0], "seconds": 45}]}, "shots.0.seconds"),
            ({"shots": [shot, {"prompt": "   "}]}, "shots.1.prompt"),
            ({"shots": [shot, {"seconds": 2}]}, "shots.1.prompt"),
            ({"shots": [{**shot, "image": "data:image/png;base64,bm90IGFuIGltYWdl"}]}, "shots.0.image"),
            ({"shots": [{**shot, "character": "char_nobody"}]}, "shots.0.character"),
            ({"shots": [{**shot, "colour": "red"}]}, "shots.0.colour"),
            ({"settings": {"fps": 100}, "shots": [shot]}, "settings.fps"),
            ({"settings": {"size": "12x12"}, "shots": [shot]}, "settings.size"),
            ({"settings": {"prompt": "x"}, "shots": [shot]}, "settings.prompt"),
            ({"model": "no-such-model", "shots": [shot]}, "model"),
        ]
        for body, field in cases:
            answer = api.post("/api/boards", json={"settings": SETTINGS, **body})
            assert answer.status_code == 400, (body, answer.text)
            assert answer.json()["error"]["param"] == field, (body, answer.json())
        assert api.get("/api/boards").json()["data"] == [] and not list(tmp_path.glob("files/inputs/*"))

        board = api.post("/api/boards", json={"settings": SETTINGS, "shots": [shot, {"prompt": PROMPTS[1]}]}).json()
        assert board["model"] == "builtin" and board["shots"][1]["seconds"] == 5  # the model's default length
        refused = api.patch(f"/api/boards/{board['id']}", json={"shots": [{"id": "shot_elsewhere"}]})
        assert refused.status_code == 400 and refused.json()["error"]["param"] == "shots.0.id"
        second = board["shots"][1]["id"]
        refused = api.post(f"/api/boards/{board['id']}/shots/{second}/regenerate", json={"seconds": 90})
        assert refused.status_code == 400 and refused.json()["error"]["param"] == "shots.1.seconds"
        assert api.post(f"/api/boards/{board['id']}/shots/shot_none/regenerate", json={}).status_code == 404

        # Making queues the first shot only (no worker here makes it).
        making = api.post(f"/api/boards/{board['id']}/make").json()
        assert making["status"] == "making" and [s["status"] for s in making["shots"]] == ["queued", "pending"]
        take = making["shots"][0]["video"]
        # A take cancelled (or failed) stops the board, saying which shot; making it again goes on from there.
        api.post(f"/api/videos/{take}/cancel")
        failed = api.get(f"/api/boards/{board['id']}").json()
        assert failed["status"] == "failed" and failed["error"].startswith("shot 1: cancelled")
        assert failed["shots"][0]["status"] == "cancelled" and failed["shots"][0]["error"]
        again = api.post(f"/api/boards/{board['id']}/make").json()
        assert again["status"] == "making" and again["error"] is None and again["shots"][0]["status"] == "queued"
        take = again["shots"][0]["video"]

        # Another client's board does not exist for them.
        bob = httpx.Client(base_url=server.base, timeout=30,
                           headers={"authorization": f"Bearer {create_key(server, 'Bob')}"})
        path = f"/api/boards/{board['id']}"
        assert bob.get("/api/boards").json()["data"] == []
        for answer in (bob.get(path), bob.patch(path, json={"title": "mine"}), bob.post(f"{path}/make"),
                       bob.post(f"{path}/shots/{second}/regenerate", json={}), bob.delete(path)):
            assert answer.status_code == 404 and answer.json()["error"]["code"] == "not_found"

        assert api.delete(path).json()["deleted"] and api.get(path).status_code == 404
        assert api.get(f"/api/videos/{take}").json()["status"] == "cancelled"  # its take is no longer wanted
    finally:
        server.stop()


def board_row(store, shots: list[dict]) -> str:
    """A board being made, as POST /api/boards and /make leave it."""
    now = time.time()
    with store.write() as session:
        session.add(Board(id="board_one", client="local", title="", model="builtin", settings=SETTINGS, shots=shots,
                          status=MAKING, busy_until=0.0, created_at=now, updated_at=now))
    return "board_one"


def test_two_movers_never_queue_a_shot_twice(store, tmp_path):
    studio = Studio(store, Storage(tmp_path / "files"), ServiceConfig())
    queued, lock = [], threading.Lock()
    create = studio.create

    def counted(*args, **kwargs):
        videos = create(*args, **kwargs)
        with lock:
            queued.extend(video.id for video in videos)
        return videos

    studio.create = counted
    board_id = board_row(store, [{"id": "shot_a", "prompt": PROMPTS[0], "seconds": 2.0}])
    movers = [Director(studio), Director(studio)]  # as two server processes would have
    with ThreadPoolExecutor(6) as pool:
        list(pool.map(lambda index: movers[index % 2].advance(board_id, stitch=False), range(12)))
    with store.read() as session:
        board = session.get(Board, board_id)
        videos = list(session.scalars(select(Video.id)))
    assert len(queued) == 1 and videos == queued and board.shots[0]["video"] == queued[0]
    assert board.busy_until == 0.0  # the claim was let go


def test_a_shot_with_a_character_asks_for_it(store, tmp_path):
    studio = Studio(store, Storage(tmp_path / "files"), ServiceConfig())
    with store.write() as session:
        session.add(Character(id="char_rex", client="local", name="Rex", image="characters/rex.png",
                              object={"shape": "star", "color": "green", "size": "large"}, created_at=time.time()))
    board_id = board_row(store, [{"id": "shot_a", "prompt": "@Rex moving up on a blue background", "seconds": 2.0,
                                  "character": "char_rex"}])
    Director(studio).advance(board_id, stitch=False)
    with store.read() as session:
        take = session.get(Video, session.get(Board, board_id).shots[0]["video"])
    assert take.request["characters"] == [{"name": "Rex", "shape": "star", "color": "green", "size": "large"}]
    assert take.seed == SETTINGS["seed"] and take.public is False


def test_clips_of_one_format_are_copied_and_others_encoded_again(tmp_path):
    def clip(name: str, width: int, shade: int) -> Path:
        path = tmp_path / name
        with Mp4Writer(path, width, 64, 8) as writer:
            for _ in range(8):
                writer.write(np.full((64, width, 3), shade, np.uint8))
        return path

    first, second, wider = clip("a.mp4", 64, 40), clip("b.mp4", 64, 200), clip("c.mp4", 96, 120)
    same = stitch([first, second, first], tmp_path / "same.mp4")
    assert same.copied and same.frames == 24 and same.seconds == 3
    mixed = stitch([first, wider], tmp_path / "mixed.mp4")
    assert not mixed.copied and mixed.frames == 16 and (mixed.width, mixed.height) == (64, 64)
    for joined, shades in ((tmp_path / "same.mp4", [40, 200, 40]), (tmp_path / "mixed.mp4", [40, 120])):
        with av.open(str(joined)) as container:
            frames = [frame.to_ndarray(format="rgb24") for frame in container.decode(video=0)]
        assert [round(frames[index].mean()) for index in range(0, len(frames), 8)] == pytest.approx(shades, abs=3)


def test_a_stitched_clip_credited_anew_keeps_its_shots_or_its_former_self(tmp_path):
    """Signed again for a new artist, a stitched clip lists its takes again where they are all still
    here, else the clip as it was (whose own manifest lists them) as its parent."""
    from ungated.provenance import c2pa_manifest
    from ungated.provenance.credentials import load
    from ungated.provenance.resign import resign

    takes = []
    for index, shade in enumerate((60, 180)):
        take = tmp_path / f"take{index}.mp4"
        with Mp4Writer(take, 64, 64, 8) as writer:
            for _ in range(8):
                writer.write(np.full((64, 64, 3), shade, np.uint8))
        c2pa_manifest.sign(take, c2pa_manifest.Authorship(model="builtin", video_id=f"video_take{index}"), load())
        takes.append(take)
    joined = tmp_path / "joined.mp4"
    stitch(takes, joined)
    ingredients = [c2pa_manifest.Ingredient(take, f"shot {n}", f"video_take{n - 1}") for n, take in enumerate(takes, 1)]
    c2pa_manifest.sign(joined, c2pa_manifest.Authorship(model="builtin", artist="Ada", video_id="video_joined",
                                                        storyboard="board_1"), load(), ingredients=ingredients)

    files = {f"video_take{index}": take for index, take in enumerate(takes)}
    resign(joined, "Grace", ingredient_file=files.get)
    report = c2pa_manifest.read(joined)
    assert report.state in ("Valid", "Trusted") and report.artist == "Grace" and report.storyboard == "board_1"
    assert [(i["title"], i["relationship"], i["video_id"]) for i in report.ingredients] == [
        ("shot 1", "componentOf", "video_take0"), ("shot 2", "componentOf", "video_take1")]

    del files["video_take1"]  # a take deleted since
    resign(joined, "Linus", ingredient_file=files.get)
    report = c2pa_manifest.read(joined)
    assert report.state in ("Valid", "Trusted") and report.artist == "Linus"
    assert [(i["relationship"], i["video_id"]) for i in report.ingredients] == [("parentOf", "video_joined")]
