"""Directing through the APIs: extensions, re-cuts, edits and blends, characters and
`input_reference` objects, on /v1 (driven by the official `openai` package where it can send the
request) and /api.

Most tests run the API in-process against engines that exist only as capabilities (no worker: what
they check is what is queued and what the answer says); the end-to-end tests make tiny clips with
the built-in model on one `ungated serve` shared by the module."""

from __future__ import annotations

import base64
import io
import socket
import threading
from dataclasses import replace
from fractions import Fraction
from http.server import BaseHTTPRequestHandler, HTTPServer

import av
import httpx
import numpy as np
import openai
import pytest
from fastapi.testclient import TestClient
from PIL import Image
from sqlalchemy import update

from ungated.api import characters_service, fetch
from ungated.api.app import create_app
from ungated.api.service import ServiceConfig
from ungated.jobs import keys, queue
from ungated.jobs.schema import Video
from ungated.jobs.storage import Storage
from ungated.jobs.store import Store
from ungated.media.encode import Mp4Writer
from ungated.media.pipeline import companion_paths
from ungated.provenance import watermark

from .fake_engines import ANY_ASPECT, CapabilitiesOnly
from .service import Server
from .test_openai_api import client_for, in_process_client

PROMPT = "a small red circle moving right on a blue background"
TINY = {"steps": 4, "fps": 8}  # with size 128x72 and 2 s: 16 small frames
EVERY_VERB = replace(ANY_ASPECT, extend_input=True, video_input=True, blend=True, character_objects=True)
IMAGE_MODEL, PLAIN_MODEL = "ltx-video", "mochi-1"  # catalog ids, answered here by capabilities-only engines
TAKES_IMAGES = replace(ANY_ASPECT, image_input=True, extend_input=True, loop=False)
PLAIN = replace(ANY_ASPECT, loop=False)
STAR = {"shape": "star", "color": "red", "size": "large"}


# In-process: the API with `builtin` doing every verb, a model that takes images and one that does none.

def directing_app(tmp_path, **config):
    store = Store(f"sqlite:///{tmp_path / 'store.db'}")
    store.migrate()
    app = create_app(store, Storage(tmp_path / "files"),
                     ServiceConfig(models=["builtin", IMAGE_MODEL, PLAIN_MODEL], **config))
    engines = {"builtin": CapabilitiesOnly("builtin", EVERY_VERB), IMAGE_MODEL: CapabilitiesOnly(IMAGE_MODEL, TAKES_IMAGES),
               PLAIN_MODEL: CapabilitiesOnly(PLAIN_MODEL, PLAIN)}
    others = app.state.studio.engine
    app.state.studio.engine = lambda model_id: engines.get(model_id) or others(model_id)
    return app


@pytest.fixture
def api(tmp_path, monkeypatch):
    """The in-process API; a character's object is a large red star (what the built-in model reads
    off an image is its own tests' concern)."""
    monkeypatch.setattr(characters_service, "describe_object", lambda path, at: STAR)
    with TestClient(directing_app(tmp_path)) as client:
        yield client


def write_clip(path, frames: int = 16, size: tuple[int, int] = (64, 64), mark: int | None = None) -> None:
    """A clip at 8 fps of a moving gradient (marked with a watermark id, if given)."""
    width, height = size
    marker = watermark.Marker(mark) if mark is not None else None
    x = np.linspace(0, 255, width, dtype=np.float32)[None, :, None]
    with Mp4Writer(path, width, height, 8, {}) as writer:
        for i in range(frames):
            frame = np.broadcast_to((x + 8 * i) % 256, (height, width, 3)).astype(np.uint8).copy()
            frame[..., 2] = 255 - frame[..., 0]
            writer.write(marker(i, frame) if marker else frame)


def clip_bytes(frames: int = 16, **options) -> bytes:
    import tempfile
    from pathlib import Path

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "clip.mp4"
        write_clip(path, frames, **options)
        return path.read_bytes()


def finished(api: TestClient, frames: int = 16, prompt: str = PROMPT, **fields) -> str:
    """A video queued through the API and then recorded as finished, with a clip of frames at 8 fps."""
    made = api.post("/api/videos", json={"prompt": prompt, "seconds": frames / 8, "fps": 8, "size": "64x64",
                                         **fields})
    assert made.status_code == 200, made.text
    video_id = made.json()["data"][0]["id"]
    storage, store = api.app.state.studio.storage, api.app.state.studio.store
    clip = storage.root / "videos" / video_id / "clip.mp4"
    clip.parent.mkdir(parents=True)
    write_clip(clip, frames)
    Image.new("RGB", (64, 64), "orange").save(companion_paths(clip).thumbnail, format="JPEG")
    with store.write() as session:
        session.execute(update(Video).where(Video.id == video_id).values(status=queue.COMPLETED,
                                                                            result=storage.relative(clip)))
    return video_id


def data_url(color: str = "red", size: tuple[int, int] = (64, 64)) -> str:
    buffer = io.BytesIO()
    Image.new("RGB", size, color).save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


def inputs_written(api: TestClient) -> list:
    folder = api.app.state.studio.storage.root / "inputs"
    return sorted(folder.iterdir()) if folder.exists() else []


def refusal(answer: httpx.Response, status: int = 400) -> dict:
    assert answer.status_code == status, answer.text
    return answer.json()["error"]


# Extensions, re-cuts, edits, blends.

def test_an_extension_by_id_is_the_whole_clip_and_names_its_source(api):
    source = finished(api)  # 2 s
    as_json = api.post("/v1/videos/extensions", json={"prompt": "it turns", "seconds": "3", "video": {"id": source}})
    assert as_json.status_code == 200, as_json.text
    video = as_json.json()
    assert (video["object"], video["seconds"], video["remixed_from_video_id"]) == ("video", "5", source)
    as_form = api.post("/v1/videos/extensions", data={"prompt": "it turns", "seconds": "2", "video[id]": source})
    assert as_form.status_code == 200, as_form.text
    assert (as_form.json()["seconds"], as_form.json()["remixed_from_video_id"]) == ("4", source)
    stored = api.get(f"/api/videos/{video['id']}").json()
    assert stored["inputs"] == ["extend"] and stored["seed"] == api.get(f"/api/videos/{source}").json()["seed"]


def test_a_clip_made_elsewhere_is_itself_the_input(api):
    client = in_process_client(api)
    video = client.videos.extend(prompt="it goes on", seconds="2", video=("theirs.mp4", clip_bytes(24), "video/mp4"))
    assert (video.seconds, video.remixed_from_video_id, video.model) == ("5", None, "sora-2")  # 3 s + 2 s
    assert api.get(f"/api/videos/{video.id}").json()["inputs"] == ["extend"]
    edited = client.videos.edit(prompt="in green", video=("theirs.mp4", clip_bytes(24), "video/mp4"))
    assert (edited.seconds, edited.remixed_from_video_id) == ("3", None)  # as long as the clip
    assert api.get(f"/api/videos/{edited.id}").json()["inputs"] == ["video"]


def test_an_upload_of_a_clip_made_here_is_known_by_its_watermark(api):
    """Without its manifest (re-encoded, or stripped), the clip is still known by its watermark,
    while its video is still here."""
    source = finished(api)
    client = in_process_client(api)
    marked = clip_bytes(16, size=(256, 256), mark=watermark.mark_id(source))
    video = client.videos.extend(prompt="it goes on", seconds="2", video=("mine.mp4", marked, "video/mp4"))
    assert (video.remixed_from_video_id, video.seconds) == (source, "4")  # the stored 2 s clip and 2 s more
    api.delete(f"/api/videos/{source}")
    gone = client.videos.extend(prompt="it goes on", seconds="2", video=("mine.mp4", marked, "video/mp4"))
    assert gone.remixed_from_video_id is None


def test_recut_continues_from_the_second_asked(api):
    source = finished(api, frames=24)  # 3 s
    for at, total in ((1, 3), (0.5, 2.5), (3, 5)):
        made = api.post(f"/api/videos/{source}/extend", json={"at": at, "seconds": 2})
        assert made.status_code == 200, made.text
        video = made.json()["data"][0]
        assert (video["seconds"], video["request"]["extend_at"], video["remixed_from"]) == (total, at, source)
    assert refusal(api.post(f"/api/videos/{source}/extend", json={"at": 4, "seconds": 2}))["param"] == "at"
    assert refusal(api.post(f"/api/videos/{source}/extend", json={"at": -1}))["param"] == "at"


def test_a_blend_is_a_then_the_transition_then_b(api):
    first, second = finished(api, frames=16), finished(api, frames=24, prompt="a green star spinning")
    made = api.post(f"/api/videos/{first}/blend", json={"into": second, "seconds": 2})
    assert made.status_code == 200, made.text
    video = made.json()["data"][0]
    assert video["seconds"] == 2 + 2 + 3 and video["inputs"] == ["blend_into", "extend"]
    assert video["prompt"] == PROMPT and video["remixed_from"] == first
    unfinished = api.post("/api/videos", json={"prompt": PROMPT}).json()["data"][0]["id"]
    assert refusal(api.post(f"/api/videos/{first}/blend", json={"into": unfinished}), 409)["param"] == "into"


def test_an_edit_is_as_long_as_its_clip(api):
    source = finished(api, frames=24)
    made = api.post(f"/api/videos/{source}/edit", json={"prompt": "a green star instead"}).json()["data"][0]
    assert (made["seconds"], made["inputs"], made["prompt"]) == (3, ["video"], "a green star instead")
    edited = api.post("/v1/videos/edits", json={"prompt": "in blue", "video": {"id": source}}).json()
    assert (edited["seconds"], edited["remixed_from_video_id"]) == ("3", source)
    assert refusal(api.post(f"/api/videos/{source}/edit", json={}))["param"] == "prompt"


def test_a_model_that_cannot_is_refused_naming_the_field_and_the_models_that_can(api):
    source = finished(api)
    cases = [
        (f"/api/videos/{source}/extend", {"model": PLAIN_MODEL}, "extend", f"builtin, {IMAGE_MODEL}"),
        (f"/api/videos/{source}/extend", {"model": PLAIN_MODEL, "at": 1}, "at", f"builtin, {IMAGE_MODEL}"),
        (f"/api/videos/{source}/edit", {"model": IMAGE_MODEL, "prompt": "x"}, "video", "can: builtin"),
        (f"/api/videos/{source}/blend", {"model": IMAGE_MODEL, "into": source}, "into", "can: builtin"),
        ("/v1/videos/extensions", {"model": PLAIN_MODEL, "prompt": "x", "video": {"id": source}}, "video", "builtin"),
        ("/v1/videos/edits", {"model": PLAIN_MODEL, "prompt": "x", "video": {"id": source}}, "video", "builtin"),
    ]
    for path, body, param, able in cases:
        error = refusal(api.post(path, json=body))
        assert error["param"] == param and f"model {body['model']} does not" in error["message"], error
        assert able in error["message"], error
    assert len(api.get("/api/me/videos").json()["data"]) == 1 and inputs_written(api) == []


@pytest.mark.parametrize(("body", "status", "param"), [
    (lambda source: {"prompt": "x", "seconds": "soon", "video": {"id": source}}, 400, "seconds"),
    (lambda source: {"prompt": "x", "seconds": "99", "video": {"id": source}}, 400, "seconds"),
    (lambda source: {"prompt": "x", "seconds": "2"}, 400, "video"),
    (lambda source: {"prompt": "x", "video": {"name": source}}, 400, "video"),
    (lambda source: {"prompt": "x", "video": source}, 400, "video"),
    (lambda source: {"video": {"id": source}}, 400, "prompt"),
    (lambda source: {"prompt": "x", "video": {"id": "video_nope"}}, 404, "video"),
])
def test_bad_extensions_are_refused_naming_the_field(api, body, status, param):
    error = refusal(api.post("/v1/videos/extensions", json=body(finished(api))), status)
    assert error["param"] == param and error["message"]


# Characters.

def test_characters_are_kept_per_client(api):
    upload = api.post("/api/characters", data={"name": "Bob"},
                      files={"image": ("bob.png", base64.b64decode(data_url().partition(",")[2]), "image/png")})
    assert upload.status_code == 200, upload.text
    bob = upload.json()
    assert bob["id"].startswith("char_") and bob["name"] == "Bob" and bob["object"] == STAR
    picture = Image.open(io.BytesIO(api.get(bob["links"]["image"]).content))
    assert picture.format == "PNG" and picture.getpixel((0, 0)) == (255, 0, 0)

    source = finished(api, frames=24)
    from_clip = api.post("/api/characters", json={"name": "Ann", "video_id": source, "at": 1.5}).json()
    assert from_clip["source_video"] == source
    as_data = api.post("/api/characters", json={"name": "Cy-2", "image": data_url("blue")}).json()
    assert [c["name"] for c in api.get("/api/characters").json()["data"]] == ["Bob", "Ann", "Cy-2"]
    assert api.get(f"/api/characters/{as_data['id']}").json()["name"] == "Cy-2"

    assert refusal(api.post("/api/characters", json={"name": "bob", "image": data_url()}), 409)["param"] == "name"
    for bad in ("", "2bob", "has space", "x" * 41):
        assert refusal(api.post("/api/characters", json={"name": bad, "image": data_url()}))["param"] == "name"
    assert refusal(api.post("/api/characters", json={"name": "Late", "video_id": source, "at": 9}))["param"] == "at"
    assert refusal(api.post("/api/characters", json={"name": "Nil"}))["param"] == "image"

    assert api.delete(f"/api/characters/{as_data['id']}").json()["deleted"]
    assert api.get(f"/api/characters/{as_data['id']}").status_code == 404


def test_the_openai_client_makes_and_reads_characters(api):
    client = in_process_client(api)
    made = client.videos.create_character(name="Bob", video=("bob.mp4", clip_bytes(16), "video/mp4"))
    assert made.id.startswith("char_") and made.name == "Bob" and made.created_at > 0
    again = client.videos.get_character(made.id)
    assert (again.id, again.name, again.created_at) == (made.id, "Bob", made.created_at)
    source = finished(api)
    by_id = api.post("/v1/videos/characters", json={"name": "Ann", "video": {"id": source}, "at": 1})
    assert by_id.status_code == 200 and by_id.json()["object"] == "character"
    by_image = api.post("/v1/videos/characters", json={"name": "Cy", "image_url": data_url()})
    assert by_image.status_code == 200 and by_image.json()["name"] == "Cy"
    with pytest.raises(openai.NotFoundError):
        client.videos.get_character("char_nope")


def test_another_clients_character_is_a_404(tmp_path):
    with TestClient(directing_app(tmp_path, public=True)) as api:
        store = api.app.state.studio.store
        ada, bob = (keys.create(store, name)[1] for name in ("Ada", "Bob"))
        made = api.post("/api/characters", json={"name": "Pip", "image": data_url()},
                        headers={"authorization": f"Bearer {ada}"}).json()
        base = str(api.base_url).rstrip("/")
        as_bob = openai.OpenAI(base_url=f"{base}/v1", api_key=bob, http_client=api, max_retries=0)
        with pytest.raises(openai.NotFoundError):
            as_bob.videos.get_character(made["id"])
        for path in (f"/api/characters/{made['id']}", f"/api/characters/{made['id']}/image"):
            assert api.get(path, headers={"authorization": f"Bearer {bob}"}).status_code == 404
        assert api.delete(f"/api/characters/{made['id']}", headers={"authorization": f"Bearer {bob}"}).status_code == 404
        assert api.get(f"/api/characters/{made['id']}").status_code == 401  # no key: no characters
        as_ada = openai.OpenAI(base_url=f"{base}/v1", api_key=ada, http_client=api, max_retries=0)
        assert as_ada.videos.get_character(made["id"]).name == "Pip"


def test_characters_by_mention_or_by_field_become_what_the_model_draws(api):
    bob = api.post("/api/characters", json={"name": "Bob", "image": data_url()}).json()
    api.post("/api/characters", json={"name": "Ann", "image": data_url("blue")})
    mentioned = api.post("/api/videos", json={"prompt": "@bob jumps over a wall"}).json()["data"][0]
    assert mentioned["request"]["characters"] == [{"name": "Bob", **STAR}] and mentioned["inputs"] == []
    by_field = api.post("/v1/videos", json={"prompt": "a hero jumps", "characters": [bob["id"]]}).json()
    assert api.get(f"/api/videos/{by_field['id']}").json()["request"]["characters"] == [{"name": "Bob", **STAR}]
    as_form = in_process_client(api).videos.create(prompt="a hero jumps", extra_body={"characters": ["BOB"]})
    assert api.get(f"/api/videos/{as_form.id}").json()["request"]["characters"] == [{"name": "Bob", **STAR}]
    unknown = api.post("/api/videos", json={"prompt": "@Zed walks"}).json()["data"][0]  # words, not a character
    assert "characters" not in unknown["request"] and unknown["prompt"] == "@Zed walks"

    # A model that takes an image starts from the character's image.
    imaged = api.post("/api/videos", json={"prompt": "@Bob waves", "model": IMAGE_MODEL}).json()["data"][0]
    assert imaged["inputs"] == ["image"] and "characters" not in imaged["request"]
    both = api.post("/api/videos", json={"prompt": "x", "model": IMAGE_MODEL, "characters": ["Bob"],
                                         "image": data_url()})
    assert refusal(both)["param"] == "characters"
    two = api.post("/api/videos", json={"prompt": "@Bob meets @Ann", "model": IMAGE_MODEL})
    assert refusal(two)["param"] == "characters" and "one character" in two.json()["error"]["message"]

    plain = refusal(api.post("/api/videos", json={"prompt": "@Bob waves", "model": PLAIN_MODEL}))
    assert plain["param"] == "characters" and f"can: builtin, {IMAGE_MODEL}" in plain["message"]
    missing = refusal(api.post("/api/videos", json={"prompt": "x", "characters": ["Bob", "Zed"]}))
    assert missing["param"] == "characters.1" and "'Zed'" in missing["message"]


def test_a_character_the_builtin_model_cannot_read_is_refused(api, monkeypatch):
    monkeypatch.setattr(characters_service, "describe_object", lambda path, at: None)
    made = api.post("/api/characters", json={"name": "Blob", "image": data_url("gray")}).json()
    assert made["object"] is None
    error = refusal(api.post("/api/videos", json={"prompt": "@Blob rolls"}))
    assert error["param"] == "characters" and "could not tell what Blob's image shows" in error["message"]
    assert api.post("/api/videos", json={"prompt": "@Blob rolls", "model": IMAGE_MODEL}).status_code == 200


# input_reference objects.

def test_input_reference_objects_resolve_to_an_image(api):
    source = finished(api)
    character = api.post("/api/characters", json={"name": "Bob", "image": data_url()}).json()
    references = [
        {"image_url": data_url("green")},
        {"image_url": f"/v1/videos/{source}/content?variant=thumbnail"},
        {"image_url": f"http://testserver/v1/videos/{source}/content?variant=thumbnail"},
        {"image_url": f"/api/characters/{character['id']}/image"},
        {"file_id": character["id"]},
        {"file_id": source},  # its last frame
    ]
    for reference in references:
        made = api.post("/v1/videos", json={"prompt": PROMPT, "model": IMAGE_MODEL, "input_reference": reference})
        assert made.status_code == 200, (reference, made.text)
        assert api.get(f"/api/videos/{made.json()['id']}").json()["inputs"] == ["image"]
    sent = in_process_client(api).videos.create(  # as form fields: input_reference[image_url]
        prompt=PROMPT, model=IMAGE_MODEL, extra_body={"input_reference": {"file_id": character["id"]}})
    assert api.get(f"/api/videos/{sent.id}").json()["inputs"] == ["image"]


@pytest.mark.parametrize(("reference", "param", "words"), [
    ({"image_url": "http://127.0.0.1/cat.png"}, "input_reference.image_url", "fetches no images"),
    ({"image_url": "https://example.com/cat.png"}, "input_reference.image_url", "fetches no images"),
    ({"image_url": "file:///etc/passwd"}, "input_reference.image_url", "http(s)"),
    ({"image_url": "/api/videos/x/preview"}, "input_reference.image_url", "this server's images"),
    ({"file_id": "char_0123"}, "input_reference.file_id", "no character"),
    ({"file_id": "file_abc"}, "input_reference.file_id", "char_"),
    ({"image_url": "data:,x", "file_id": "char_0123"}, "input_reference", "file_id"),
])
def test_input_references_that_are_not_images_here_are_refused(api, reference, param, words):
    error = refusal(api.post("/v1/videos", json={"prompt": PROMPT, "model": IMAGE_MODEL, "input_reference": reference}))
    assert error["param"] == param and words in error["message"], error
    assert inputs_written(api) == []


@pytest.mark.parametrize("url", ["http://127.0.0.1/cat.png", "http://169.254.169.254/latest/meta-data/",
                                 "http://[::1]:8080/cat.png", "http://10.0.0.7/cat.png",
                                 "http://inside.example/cat.png"])
def test_fetching_never_reaches_an_internal_address(tmp_path, monkeypatch, url):
    real = socket.getaddrinfo

    def resolve(host, *args, **kwargs):
        if host == "inside.example":  # a public name whose DNS answer is a private address
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("10.1.2.3", 80))]
        return real(host, *args, **kwargs)

    monkeypatch.setattr(fetch.socket, "getaddrinfo", resolve)
    monkeypatch.setattr(fetch.httpx.HTTPTransport, "handle_request",
                        lambda *a, **k: pytest.fail("no connection may be made"))
    with TestClient(directing_app(tmp_path, fetch_image_urls=True)) as api:
        error = refusal(api.post("/v1/videos", json={"prompt": PROMPT, "model": IMAGE_MODEL,
                                                     "input_reference": {"image_url": url}}))
        assert error["param"] == "input_reference.image_url" and "internal address" in error["message"]


def test_a_fetch_connects_to_the_address_it_checked(monkeypatch):
    """The host is resolved once and checked; the connection goes to that address with the host
    in the Host header. (Loopback stands in for a public address here: no test reaches the internet.)"""
    seen = {}
    png = base64.b64decode(data_url().partition(",")[2])

    class Images(BaseHTTPRequestHandler):
        def do_GET(self):
            seen["host"] = self.headers["Host"]
            if self.path == "/moved":
                self.send_response(302)
                self.send_header("Location", "/cat.png")
                self.end_headers()
                return
            self.send_response(200)
            self.send_header("Content-Type", "image/png")
            self.send_header("Content-Length", str(len(png)))
            self.end_headers()
            self.wfile.write(png)

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", 0), Images)
    port = server.server_address[1]
    threading.Thread(target=server.serve_forever, daemon=True).start()
    resolved = []

    def resolve(host, *args, **kwargs):
        resolved.append(host)
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.1", port))]

    monkeypatch.setattr(fetch.socket, "getaddrinfo", resolve)
    monkeypatch.setattr(fetch, "refused_address", lambda address: False)
    try:
        assert fetch.image(f"http://images.example:{port}/moved", "image_url") == png
        assert seen["host"] == f"images.example:{port}"
        # Each hop's name resolved once, here; the connection was made to the address checked.
        assert [host for host in resolved if host != "127.0.0.1"] == ["images.example", "images.example"]
    finally:
        server.shutdown()


@pytest.mark.parametrize(("address", "refused"), [
    ("127.0.0.2", True), ("::1", True), ("10.9.8.7", True), ("172.16.0.1", True), ("192.168.1.1", True),
    ("169.254.169.254", True), ("fe80::1", True), ("fd00::1", True), ("::ffff:192.168.0.1", True), ("0.0.0.0", True),
    ("224.0.0.1", True), ("240.0.0.1", True), ("100.64.0.1", True), ("93.184.216.34", False),
    ("2606:2800:220:1::1", False),
])
def test_the_addresses_a_fetch_refuses(address, refused):
    assert fetch.refused_address(fetch.ipaddress.ip_address(address)) is refused


# End to end, with the built-in model.

@pytest.fixture(scope="module")
def served(tmp_path_factory):
    home = tmp_path_factory.mktemp("directing")
    server = Server(home, f"sqlite:///{home / 'store.db'}").start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def made(served) -> tuple[openai.types.Video, bytes]:
    """One tiny clip, made and downloaded as an artist would."""
    client = client_for(served)
    video = client.videos.create_and_poll(prompt=PROMPT, size="128x72", seconds="2", extra_body=TINY,
                                          poll_interval_ms=100)
    assert video.status == "completed", video.error
    return video, client.videos.download_content(video.id).read()


def played(client: openai.OpenAI, video_id: str) -> tuple[str, Fraction]:
    """The size and length of a finished video's MP4."""
    video = client.videos.poll(video_id, poll_interval_ms=100)
    assert video.status == "completed", video.error
    with av.open(io.BytesIO(client.videos.download_content(video_id).read())) as container:
        stream = container.streams.video[0]
        frames = sum(1 for _ in container.decode(stream))
        return f"{stream.width}x{stream.height}", Fraction(frames) / stream.average_rate


def test_extending_an_uploaded_clip_made_here_continues_it(served, made):
    source, mp4 = made
    client = client_for(served)
    video = client.videos.extend(prompt="the circle turns back", seconds="2", video=("clip.mp4", mp4, "video/mp4"))
    assert (video.remixed_from_video_id, video.seconds, video.size) == (source.id, "4", "128x72")
    assert played(client, video.id) == ("128x72", 4)
    recut = httpx.post(f"{served.base}/api/videos/{source.id}/extend", json={"at": 1, "seconds": 2}, timeout=30)
    assert recut.status_code == 200, recut.text
    assert played(client, recut.json()["data"][0]["id"]) == ("128x72", 3)


def test_editing_an_uploaded_clip_made_here(served, made):
    source, mp4 = made
    client = client_for(served)
    video = client.videos.edit(prompt="a large green star moving right on a black background",
                               video=("clip.mp4", mp4, "video/mp4"))
    assert (video.remixed_from_video_id, video.seconds) == (source.id, "2")
    assert played(client, video.id) == ("128x72", 2)


def test_blending_two_clips(served, made):
    source, _ = made
    client = client_for(served)
    other = client.videos.create_and_poll(prompt="a large green star on a black background", size="128x72",
                                          seconds="3", extra_body=TINY, poll_interval_ms=100)
    blend = httpx.post(f"{served.base}/api/videos/{source.id}/blend", json={"into": other.id, "seconds": 2},
                       timeout=30)
    assert blend.status_code == 200, blend.text
    assert played(client, blend.json()["data"][0]["id"]) == ("128x72", 2 + 2 + 3)


def test_a_character_from_a_clip_is_drawn_by_name(served, made):
    _, mp4 = made
    client = client_for(served)
    character = client.videos.create_character(name="Bob", video=("clip.mp4", mp4, "video/mp4"))
    assert client.videos.get_character(character.id).name == "Bob"
    seen = httpx.get(f"{served.base}/api/characters/{character.id}", timeout=30).json()["object"]
    assert seen is not None and seen["color"] == "red", seen  # the clip's small red circle
    video = client.videos.create(prompt="@Bob moving left on a blue background", size="128x72", seconds="2",
                                 extra_body=TINY)
    stored = httpx.get(f"{served.base}/api/videos/{video.id}", timeout=30).json()["request"]
    assert stored["characters"] == [{"name": "Bob", **seen}]
    assert played(client, video.id) == ("128x72", 2)
