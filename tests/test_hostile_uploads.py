"""Hostile uploads (issue 26, "nothing written outside its home"): paths that leave a dataset, zip
bombs and archives that lie, a member's storage quota, uploads left behind by refused requests,
images that claim billions of pixels, first requests for a GIF racing, and server paths in the
messages a member sees. Each answer is a 4xx naming the field, and nothing stays on disk."""

from __future__ import annotations

import asyncio
import base64
import io
import shutil
import struct
import threading
import uuid
import zipfile
import zlib
from pathlib import Path

import httpx
import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image

from ungated.api import studio as studio_routes
from ungated.api.app import create_app
from ungated.api.service import ServiceConfig
from ungated.errors import InvalidRequest
from ungated.jobs import datasets, keys, queue
from ungated.jobs.schema import Video
from ungated.jobs.storage import Storage
from ungated.jobs.store import Store
from ungated.media.encode import Mp4Writer
from ungated.media.gif import write_gif
from ungated.media.inputs import count_frames, read_image, read_video

PROMPT = "a small red circle moving right"
ESCAPE = f"ungated-escape-{uuid.uuid4().hex}.png"  # what an absolute path would write at the top of the disk
MODELS = ["builtin", "ltx-video", "wan2.1-t2v-1.3b"]  # no input; image input and extend; video input


@pytest.fixture
def sqlite_store(tmp_path):
    store = Store(f"sqlite:///{tmp_path / 'store.db'}")
    store.migrate()
    yield store
    store.dispose()


def client_for(store, storage):
    return TestClient(create_app(store, storage, ServiceConfig(models=MODELS)), raise_server_exceptions=False)


@pytest.fixture
def api(sqlite_store, tmp_path):
    storage = Storage(tmp_path / "files")
    with client_for(sqlite_store, storage) as client:
        yield client, storage


def files_under(root: Path) -> list[str]:
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()) if root.exists() else []


def refused(answer: httpx.Response, status: int, param: str) -> dict:
    assert answer.status_code == status, answer.text
    error = answer.json()["error"]
    assert error["param"] == param and error["message"], error
    return error


def png(size: tuple[int, int] = (64, 64)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, "red").save(buffer, format="PNG")
    return buffer.getvalue()


def claiming(width: int, height: int) -> bytes:
    """A small PNG whose header claims width x height pixels."""
    data = bytearray(png((8, 8)))
    ihdr = 8 + 8  # signature, then the IHDR chunk's length and type
    struct.pack_into(">II", data, ihdr, width, height)
    struct.pack_into(">I", data, ihdr + 13, zlib.crc32(bytes(data[ihdr - 4:ihdr + 13])))
    return bytes(data)


def data_url(data: bytes, kind: str = "image/png") -> str:
    return f"data:{kind};base64,{base64.b64encode(data).decode()}"


def mp4(path: Path, frames: int = 12, size: tuple[int, int] = (96, 64), fps: int = 8) -> Path:
    rng = np.random.default_rng(0)
    with Mp4Writer(path, *size, fps) as writer:
        for _ in range(frames):
            writer.write(rng.integers(0, 255, (size[1], size[0], 3), dtype=np.uint8))
    return path


def zipped(entries: dict[str, bytes], method: int = zipfile.ZIP_DEFLATED) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", method) as archive_file:
        for name, data in entries.items():
            archive_file.writestr(name, data)
    return buffer.getvalue()


def patched(data: bytes, name: str, flags: int = 0, method: int | None = None, size: int | None = None) -> bytes:
    """The zip with one member's headers changed, as a hostile (or exotic) archiver writes them:
    more flag bits (1: encrypted), another compression method, another uncompressed size."""
    out, encoded = bytearray(data), name.encode()
    for signature, name_at, flags_at, name_length_at, size_at in ((b"PK\x03\x04", 30, 6, 26, 22),
                                                                   (b"PK\x01\x02", 46, 8, 28, 24)):
        at = out.find(signature)
        while at >= 0:
            length = struct.unpack_from("<H", out, at + name_length_at)[0]
            if out[at + name_at:at + name_at + length] == encoded:
                struct.pack_into("<H", out, at + flags_at, struct.unpack_from("<H", out, at + flags_at)[0] | flags)
                if method is not None:
                    struct.pack_into("<H", out, at + flags_at + 2, method)
                if size is not None and signature == b"PK\x01\x02":  # zipfile reads sizes from here
                    struct.pack_into("<I", out, at + size_at, size)
            at = out.find(signature, at + 4)
    return bytes(out)


# ---- 1. paths that leave the dataset -----------------------------------------------------------------

@pytest.mark.parametrize("path", [
    f"%2F{ESCAPE}",
    "..%2Fescape.png", "a%2F..%2F..%2Fescape.png", "clip%00.png", "sub%5Cclip.png", "C:clip.png", "C%3A%2Fclip.png",
    "clip%01.png", "clip%0A.png", "x" * 300 + ".png", "a%2F%2Fb.png", ".%2Fclip.png",
])
def test_dataset_file_paths_that_could_leave_the_dataset_are_refused(api, path):
    client, storage = api
    try:
        refused(client.put(f"/api/datasets/ds/files/{path}", content=b"x"), 400, "path")
    finally:
        (Path("/") / ESCAPE).unlink(missing_ok=True)
    assert files_under(storage.root) == []


@pytest.mark.parametrize("name", ["/X.png", "../X.png", "a/../../X.png", "C:\\X.png", "a\\..\\X.png", "x\x01.png"])
def test_zip_members_that_could_leave_the_dataset_are_refused_and_nothing_written(api, name):
    client, storage = api
    body = zipped({"clip.txt": b"a ball", name: png()})
    try:
        refused(client.put("/api/datasets/ds", content=body), 400, "path")
    finally:
        Path("/X.png").unlink(missing_ok=True)
    assert files_under(storage.root) == []


def test_a_file_and_a_folder_of_one_name_are_refused(api):
    client, storage = api
    assert client.put("/api/datasets/ds/files/clash.png", content=png()).status_code == 200
    refused(client.put("/api/datasets/ds/files/clash.png/0001.png", content=png()), 400, "path")
    assert client.put("/api/datasets/other/files/shot.png/0001.png", content=png()).status_code == 200
    refused(client.put("/api/datasets/other/files/shot.png", content=png()), 400, "path")
    refused(client.put("/api/datasets/third", content=zipped({"clash.png": png(), "clash.png/0001.png": png()})),
            400, "path")
    refused(client.put("/api/datasets/ds", content=zipped({"clash.png/0001.png": png(), "clash.txt": b"red"})),
            400, "path")
    assert files_under(storage.root) == ["datasets/local/ds/clash.png", "datasets/local/other/shot.png/0001.png"]


def test_training_files_are_served_only_from_inside_the_run(api):
    client, storage = api
    client.put("/api/datasets/ds/files/clip.txt", content=b"a ball")
    run = client.post("/api/trainings", json={"name": "style", "dataset": "ds", "steps": 1}).json()
    for path in ("a%00b", "..%2F..%2F..%2Fstore.db", "%2Fetc%2Fpasswd", "out%5C..%5Cx"):
        refused(client.get(f"/api/trainings/{run['id']}/files/{path}"), 400, "path")


def test_the_one_path_check():
    from pathlib import PurePosixPath

    from ungated.jobs import paths

    assert paths.client_path("seq/0001.png") == PurePosixPath("seq/0001.png")
    for bad in ("", "/x", "a/../b", "..", "a//b", "a/", "a\\b", "C:x", "x\x00", "x\x7f", "x" * 300, "a/" * 600 + "b"):
        with pytest.raises(InvalidRequest) as caught:
            paths.client_path(bad)
        assert caught.value.field == "path"


# ---- 2. archives with limits, and the storage quota --------------------------------------------------

def test_a_zip_bomb_is_refused_before_it_is_unpacked(api):
    client, storage = api
    bomb = zipped({"clip.txt": b"a ball", "big.mp4": bytes(50 * 2**20)})  # 50 MB of zeros in about 50 KB
    assert len(bomb) < 2**20
    error = refused(client.put("/api/datasets/ds", content=bomb), 400, "body")
    assert "big.mp4" in error["message"] and "compress" in error["message"]
    assert files_under(storage.root) == []


def test_an_archive_over_the_unpacked_size_or_file_count_is_refused(api, monkeypatch):
    from ungated.jobs import archive

    client, storage = api
    monkeypatch.setattr(archive, "MAX_UNPACKED_BYTES", 100_000)
    stored = zipped({f"clip{i}.txt": bytes(range(256)) * 100 for i in range(5)}, zipfile.ZIP_STORED)
    assert "unpacks to" in refused(client.put("/api/datasets/ds", content=stored), 400, "body")["message"]
    monkeypatch.setattr(archive, "MAX_FILES", 3)
    many = zipped({f"clip{i}.txt": b"a ball" for i in range(4)})
    assert "at most 3 files" in refused(client.put("/api/datasets/ds", content=many), 400, "body")["message"]
    assert files_under(storage.root) == []


def test_encrypted_entries_unknown_methods_and_lying_headers_are_refused_with_nothing_kept(api):
    client, storage = api
    good = {"a.txt": b"a ball", "b.txt": b"a kite " * 1000}
    for body in (patched(zipped(good), "b.txt", flags=0x1),  # encrypted
                 patched(zipped(good, zipfile.ZIP_STORED), "b.txt", method=99),  # AES
                 patched(zipped(good), "b.txt", size=10)):  # says 10 bytes; unpacks to 7000
        error = refused(client.put("/api/datasets/ds", content=body), 400, "body")
        assert "b.txt" in error["message"], error
        assert files_under(storage.root) == []
    assert client.put("/api/datasets/ds", content=zipped(good)).json()["files"] == 2


def test_a_members_datasets_have_a_storage_quota(sqlite_store, tmp_path, monkeypatch):
    storage = Storage(tmp_path / "files")
    key, secret = keys.create(sqlite_store, "member")
    monkeypatch.setattr(datasets, "QUOTA_BYTES", 3000)
    with client_for(sqlite_store, storage) as client:
        member = {"Authorization": f"Bearer {secret}"}
        assert client.put("/api/datasets/ds/files/a.txt", content=b"a" * 2000, headers=member).status_code == 200
        error = refused(client.put("/api/datasets/ds/files/b.txt", content=b"b" * 2000, headers=member), 413, "body")
        assert "2.0 KB" in error["message"] and "2.9 KB" in error["message"], error  # what they use, the cap
        # Replacing a file counts what it replaces; a zip counts what it unpacks to; a body sent
        # without a length stops at the quota.
        assert client.put("/api/datasets/ds/files/a.txt", content=b"a" * 2500, headers=member).status_code == 200
        refused(client.put("/api/datasets/two", content=zipped({"b.txt": b"b" * 1000}), headers=member), 413, "body")
        chunks = (b"c" * 1000 for _ in range(10))
        refused(client.put("/api/datasets/ds/files/c.txt", content=chunks, headers=member), 413, "body")
        # The local user (an admin) is not held to it.
        assert client.put("/api/datasets/mine/files/b.txt", content=b"b" * 5000).status_code == 200
    assert files_under(storage.root) == [f"datasets/{key.id}/ds/a.txt", "datasets/local/mine/b.txt"]


def test_the_spool_file_goes_on_every_path(sqlite_store, tmp_path, monkeypatch):
    from ungated.api import app as app_module

    storage = Storage(tmp_path / "files")
    monkeypatch.setattr(app_module, "MAX_DATASET_BYTES", 5000)
    with client_for(sqlite_store, storage) as client:
        chunks = (b"x" * 1000 for _ in range(10))  # no Content-Length: the body limit stops it midway
        assert client.put("/api/datasets/ds/files/a.txt", content=chunks).status_code == 413
        assert client.put("/api/datasets/ds", content=b"not a zip").status_code == 400
        assert client.put("/api/datasets/ds/files/a.txt", content=b"fine").status_code == 200
    assert files_under(storage.root) == ["datasets/local/ds/a.txt"]


# ---- 3. refused requests leave nothing --------------------------------------------------------------

def test_refused_create_requests_write_no_input(api):
    client, storage = api
    inputs = storage.root / "inputs"
    for body, param in (({"prompt": PROMPT, "image": data_url(png()), "model": 123}, "model"),
                        ({"prompt": PROMPT, "model": "ltx-video", "image": data_url(png()),
                          "video": data_url(b"not a video", "video/mp4")}, "video"),
                        ({"prompt": PROMPT, "model": "ltx-video", "image": data_url(png()), "steps": 0}, "steps"),
                        ({"prompt": PROMPT, "model": "ltx-video", "image": data_url(png()), "public": "maybe"},
                         "public"),
                        ({"prompt": PROMPT, "image": data_url(png())}, "image")):  # builtin takes no image
        refused(client.post("/api/videos", json=body), 400, param)
    answer = client.post("/api/videos", data={"prompt": PROMPT, "model": "ltx-video", "seconds": "abc"},
                         files={"image": ("red.png", png(), "image/png")})
    refused(answer, 400, "seconds")
    answer = client.post("/v1/videos", data={"prompt": PROMPT, "model": "ltx-video", "seconds": "abc"},
                         files={"input_reference": ("red.png", png(), "image/png")})
    refused(answer, 400, "seconds")
    assert files_under(inputs) == []

    made = client.post("/api/videos", json={"prompt": PROMPT, "model": "ltx-video", "image": data_url(png())})
    assert made.status_code == 200, made.text
    assert len(files_under(inputs)) == 1
    # A remix owns its own copy of the input; a refused one copies nothing.
    video_id = made.json()["data"][0]["id"]
    refused(client.post(f"/api/videos/{video_id}/remix", json={"steps": 0}), 400, "steps")
    assert len(files_under(inputs)) == 1
    assert client.post(f"/api/videos/{video_id}/remix", json={"prompt": "a green star"}).status_code == 200
    assert len(files_under(inputs)) == 2


@pytest.mark.parametrize("route", ["/api/videos", "/v1/videos"])
def test_a_request_over_the_keys_limits_writes_no_input(store, tmp_path, route, monkeypatch):
    storage = Storage(tmp_path / "files")
    _, secret = keys.create(store, "member", per_minute=1, concurrent=1)
    field = "image" if route == "/api/videos" else "input_reference"
    with client_for(store, storage) as client:
        member = {"Authorization": f"Bearer {secret}"}
        form = {"prompt": PROMPT, "model": "ltx-video"}
        assert client.post(route, data=form, files={field: ("a.png", png(), "image/png")},
                           headers=member).status_code == 200
        written = files_under(storage.root / "inputs")
        assert len(written) == 1

        def never(*_args, **_kwargs):
            raise AssertionError("an input was written for a request over the limits")

        monkeypatch.setattr(Path, "write_bytes", never)
        answer = client.post(route, data=form, files={field: ("b.png", png(), "image/png")}, headers=member)
        assert answer.status_code == 429, answer.text
    assert files_under(storage.root / "inputs") == written


# ---- 4. images that claim too many pixels ----------------------------------------------------------

def test_an_image_claiming_40000x40000_pixels_is_a_400_naming_the_field(api):
    client, storage = api
    bomb = claiming(40_000, 40_000)
    for route, field in (("/api/videos", "image"), ("/v1/videos", "input_reference")):
        answer = client.post(route, data={"prompt": PROMPT, "model": "ltx-video"},
                             files={field: ("bomb.png", bomb, "image/png")})
        error = refused(answer, 400, field)
        assert "megapixels" in error["message"] and "8192x8192" in error["message"], error
    answer = client.post("/api/videos", json={"prompt": PROMPT, "model": "ltx-video",
                                              "image": data_url(claiming(9_000, 8_000))})
    assert "9000x8000" in refused(answer, 400, "image")["message"]
    assert files_under(storage.root / "inputs") == []


def test_an_image_claiming_too_many_pixels_is_a_problem_in_the_dataset_check(api):
    client, _ = api
    client.put("/api/datasets/ds/files/still.png", content=claiming(40_000, 40_000))
    client.put("/api/datasets/ds/files/still.txt", content=b"a red square")
    client.put("/api/datasets/ds/files/seq/0001.png", content=claiming(40_000, 40_000))
    client.put("/api/datasets/ds/files/seq.txt", content=b"a red square")
    report = client.get("/api/datasets/ds")
    assert report.status_code == 200, report.text
    problems = {p["path"]: p["what"] for p in report.json()["problems"]}
    assert "too large" in problems["still.png"] and "too large" in problems["seq"], problems


def test_the_worker_reads_no_image_over_the_pixel_cap(tmp_path):
    bomb = tmp_path / "bomb.png"
    bomb.write_bytes(claiming(40_000, 40_000))
    with pytest.raises(InvalidRequest) as caught:
        read_image(bomb, 64, 64)
    assert caught.value.field == "image" and "megapixels" in str(caught.value)


# ---- 5. the GIF, asked for many times at once ----------------------------------------------------------

def finished_video(store, storage: Storage, clip: Path) -> str:
    [video] = queue.submit(store, [queue.NewJob(model="builtin", requested_model="builtin", request={"prompt": "x"},
                                                prompt="x", size="128x96", seconds=3, seed=1, steps=1)])
    path = storage.clip_path(video.id, "attempt")
    shutil.copyfile(clip, path)
    with store.write() as session:
        row = session.get(Video, video.id)
        row.status, row.result = queue.COMPLETED, storage.relative(path)
    return video.id


def test_first_requests_for_a_gif_all_get_the_whole_gif_made_once(sqlite_store, tmp_path, monkeypatch):
    storage = Storage(tmp_path / "files")
    video_id = finished_video(sqlite_store, storage, mp4(tmp_path / "clip.mp4", frames=24, size=(128, 96)))
    conversions = []

    def counted(*args, **kwargs):
        conversions.append(args)
        return write_gif(*args, **kwargs)

    monkeypatch.setattr(studio_routes, "write_gif", counted)
    app = create_app(sqlite_store, storage, ServiceConfig(models=MODELS))

    async def eight_at_once() -> list[httpx.Response]:
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://studio") as client:
            return await asyncio.gather(*(client.get(f"/api/videos/{video_id}/gif") for _ in range(8)))

    answers = asyncio.run(eight_at_once())
    assert [a.status_code for a in answers] == [200] * 8
    assert len({a.content for a in answers}) == 1
    assert answers[0].content.startswith(b"GIF89a") and answers[0].content.endswith(b";")
    assert len(conversions) == 1
    assert [p.name for p in (storage.root / "videos" / video_id).iterdir() if p.name.endswith(".part")] == []


def test_gif_writers_at_once_each_write_their_own_file(tmp_path):
    clip = mp4(tmp_path / "clip.mp4", frames=16)
    gif = tmp_path / "clip.gif"
    failures = []

    def convert():
        try:
            write_gif(clip, gif)
        except Exception as err:  # noqa: BLE001 - the test counts them
            failures.append(err)

    threads = [threading.Thread(target=convert) for _ in range(6)]
    [t.start() for t in threads]
    [t.join() for t in threads]
    assert failures == []
    with Image.open(gif) as image:
        assert image.n_frames == 16
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clip.gif", "clip.mp4"]


# ---- 6. messages in the member's own terms ---------------------------------------------------------------

def test_server_paths_are_said_in_the_members_terms(tmp_path):
    from ungated.jobs import paths

    root = Storage(tmp_path / "files").root
    said = paths.in_member_terms(
        f"--data: no usable clips in {root}/datasets/key_abc/shots; FileNotFoundError: '{root}/inputs/input_1.png' "
        f"and {root}/trainings/train_1/work/checkpoint.pt, {root}/datasets/key_abc/shots/seq/0001.png.", root)
    assert str(root) not in said
    assert "dataset 'shots'" in said and "the input file" in said and "'work/checkpoint.pt'" in said
    assert "'seq/0001.png' in dataset 'shots'." in said


def test_input_errors_name_no_server_path(tmp_path):
    broken = tmp_path / "input_1.png"
    broken.write_bytes(b"")
    for read, field in ((lambda: read_image(broken, 64, 64), "image"), (lambda: read_video(broken, 64, 64, 8, 8),
                                                                         "video"),
                        (lambda: count_frames(broken, 8), "extend")):
        with pytest.raises(InvalidRequest) as caught:
            read()
        assert caught.value.field == field and str(tmp_path) not in str(caught.value), caught.value


def test_a_failed_runs_error_names_the_dataset_not_its_folder(api, sqlite_store):
    from ungated.jobs.worker import Worker

    client, storage = api
    client.put("/api/datasets/broken/files/clip.mp4", content=b"not a video")
    client.put("/api/datasets/broken/files/clip.txt", content=b"a ball")
    run = client.post("/api/trainings", json={"name": "style", "dataset": "broken", "steps": 1}).json()
    runner = Worker(sqlite_store, storage, ["builtin"])
    runner.train(queue.claim_next(sqlite_store, runner.id, runner.serving()))
    error = client.get(f"/api/trainings/{run['id']}").json()["error"]
    assert error["code"] == "invalid_request" and str(storage.root) not in error["message"], error
    assert "dataset 'broken'" in error["message"] and error["message"].startswith("dataset:"), error
    report = client.get("/api/datasets/broken").json()
    assert report["folder"] == "broken" and str(storage.root) not in str(report)
