"""The OpenAI-compatible Videos API, driven by the official `openai` package against a real
`ungated serve` (on SQLite and on PostgreSQL)."""

from __future__ import annotations

import io
import json
from fractions import Fraction

import av
import httpx
import openai
import pytest
from fastapi.testclient import TestClient
from PIL import Image

from .fake_engines import ANY_ASPECT, ONE_SIZE, app_serving
from .service import Server

PROMPT = "a small red circle moving right on a blue background"
OPENAI_SIZES = ("1280x720", "720x1280", "1024x1792", "1792x1024")
OPENAI_SECONDS = ("4", "8", "12")


@pytest.fixture(scope="module")
def sqlite_server(tmp_path_factory):
    """One server for the tests that only check validation (which does not depend on the store)."""
    home = tmp_path_factory.mktemp("serve")
    running = Server(home, f"sqlite:///{home / 'store.db'}").start()
    yield running
    running.stop()


def client_for(server: Server) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{server.base}/v1", api_key="not-needed-locally", max_retries=0)


@pytest.fixture
def client(server) -> openai.OpenAI:
    return client_for(server)


def test_create_poll_download_remix_delete(client, server):
    video = client.videos.create_and_poll(prompt=PROMPT, seconds="4", size="1280x720", poll_interval_ms=200)
    assert video.status == "completed" and video.progress == 100 and video.error is None
    assert video.model == "sora-2"
    mp4 = client.videos.download_content(video.id).read()
    with av.open(io.BytesIO(mp4)) as container:  # the object says what was made
        stream = container.streams.video[0]
        frames = sum(1 for _ in container.decode(stream))
        assert f"{stream.width}x{stream.height}" == video.size
        assert float(frames / stream.average_rate) == pytest.approx(float(video.seconds), abs=1e-3)
    for variant in ("thumbnail", "spritesheet"):
        picture = Image.open(io.BytesIO(client.videos.download_content(video.id, variant=variant).read()))
        assert picture.format == "JPEG"

    remix = client.videos.remix(video.id, prompt="a large green star spinning on a black background")
    assert remix.remixed_from_video_id == video.id and remix.status in ("queued", "in_progress")
    remix = client.videos.poll(remix.id, poll_interval_ms=200)
    assert remix.status == "completed"

    assert client.videos.delete(video.id).deleted
    with pytest.raises(openai.NotFoundError):
        client.videos.retrieve(video.id)
    assert [v.id for v in client.videos.list()] == [remix.id]


def in_process_client(http: TestClient) -> openai.OpenAI:
    base = str(http.base_url).rstrip("/")
    return openai.OpenAI(base_url=f"{base}/v1", api_key="not-needed-locally", http_client=http, max_retries=0)


def test_sora_on_a_model_that_draws_any_size_and_length_is_made_exactly_as_asked(tmp_path):
    """sora-2 and sora-2-pro on a model with any_aspect and a seconds range: every size and length
    OpenAI offers is what the job makes and what the video object says, with nothing adjusted."""
    with TestClient(app_serving(tmp_path, ANY_ASPECT)) as http:
        client = in_process_client(http)
        for model in ("sora-2", "sora-2-pro"):
            for size in OPENAI_SIZES:
                for seconds in OPENAI_SECONDS:
                    video = client.videos.create(prompt=PROMPT, model=model, size=size, seconds=seconds)
                    assert (video.model, video.size, video.seconds) == (model, size, seconds)
                    again = client.videos.retrieve(video.id)
                    assert (again.size, again.seconds) == (size, seconds)
                    planned = http.post("/api/plan", json={"prompt": PROMPT, "model": model, "size": size,
                                                           "seconds": float(seconds)}).json()
                    assert planned["size"] == planned["native_size"] == size and planned["adjustments"] == []
                    assert planned["frames"] == int(seconds) * 24 and planned["seconds"] == int(seconds)
        default = client.videos.create(prompt=PROMPT)
        assert (default.size, default.seconds) == ("1280x720", "5")  # the model's defaults: 16:9 720p, 5 s


def test_sora_on_a_model_with_native_sizes_reports_what_it_makes(tmp_path):
    with TestClient(app_serving(tmp_path, ONE_SIZE)) as http:
        video = in_process_client(http).videos.create(prompt=PROMPT, size="1280x720", seconds="4")
        assert (video.size, video.seconds) == ("720x720", "2")  # square, 16 frames at 8 fps


@pytest.mark.parametrize(("size", "seconds"), [("1280x720", "4"), ("720x1280", "8")])
def test_the_builtin_model_makes_exactly_the_size_and_seconds_openai_asks(tmp_path, size, seconds):
    """End to end on the built-in model, which draws any size and length (issue 28): the MP4 is the
    size asked and plays for exactly the seconds asked."""
    server = Server(tmp_path, f"sqlite:///{tmp_path / 'store.db'}").start()
    try:
        client = client_for(server)
        video = client.videos.create_and_poll(prompt=PROMPT, size=size, seconds=seconds, extra_body={"steps": 4},
                                              poll_interval_ms=200)
        assert video.status == "completed", video.error
        assert (video.size, video.seconds) == (size, seconds)
        with av.open(io.BytesIO(client.videos.download_content(video.id).read())) as container:
            stream = container.streams.video[0]
            frames = sum(1 for _ in container.decode(stream))
            assert f"{stream.width}x{stream.height}" == size
            assert Fraction(frames) / stream.average_rate == Fraction(seconds)
    finally:
        server.stop()


def test_list_pages_with_after_limit_and_order(client):
    made = [client.videos.create(prompt=f"{PROMPT} {i}", extra_body={"steps": 1}).id for i in range(3)]
    page = client.videos.list(limit=2)
    assert [v.id for v in page.data] == made[::-1][:2] and page.has_more
    assert [v.id for v in client.videos.list(limit=2)] == made[::-1]  # auto-paging follows last_id
    assert [v.id for v in client.videos.list(order="asc", limit=10).data] == made
    assert [v.id for v in client.videos.list(after=made[1], order="asc").data] == [made[2]]


@pytest.mark.parametrize("arguments,param", [
    ({"seconds": "99"}, "seconds"),
    ({"seconds": "soon"}, "seconds"),
    ({"size": "1280x"}, "size"),
    ({"model": "sora-9"}, "model"),
    ({"extra_body": {"steps": 0}}, "steps"),
    ({"extra_body": {"colour": "red"}}, "colour"),
])
def test_bad_fields_get_a_400_naming_them(sqlite_server, arguments, param):
    with pytest.raises(openai.BadRequestError) as caught:
        client_for(sqlite_server).videos.create(prompt=PROMPT, **arguments)
    error = caught.value.body
    assert error["param"] == param and error["type"] == "invalid_request_error" and error["message"]


def test_an_image_for_a_model_that_takes_none_is_refused_and_not_kept(sqlite_server):
    server = sqlite_server
    buffer = io.BytesIO()
    Image.new("RGB", (64, 64), "red").save(buffer, format="PNG")
    with pytest.raises(openai.BadRequestError) as caught:
        client_for(server).videos.create(prompt=PROMPT, input_reference=("red.png", buffer.getvalue(), "image/png"))
    assert caught.value.body["param"] == "image"
    inputs = server.home / "files" / "inputs"
    assert not inputs.exists() or not any(inputs.iterdir())


@pytest.mark.parametrize("method,path,body", [
    ("POST", "/v1/videos", b"{not json"),
    ("POST", "/v1/videos", b"[1, 2]"),
    ("POST", "/v1/videos", b'{"prompt": 5}'),
    ("GET", "/v1/videos?limit=0", None),
    ("GET", "/v1/videos?order=sideways", None),
    ("GET", "/v1/videos/video_nope", None),
    ("GET", "/v1/videos/video_nope/content?variant=gif", None),
    ("POST", "/v1/videos/video_nope/remix", b'{"prompt": "x"}'),
    ("DELETE", "/v1/videos/video_nope", None),
    ("GET", "/api/videos/video_nope/events", None),
])
def test_malformed_requests_get_json_4xx_errors(sqlite_server, method, path, body):
    response = httpx.request(method, sqlite_server.base + path, content=body,
                             headers={"content-type": "application/json"})
    assert 400 <= response.status_code < 500
    assert response.json()["error"]["message"]


def test_content_of_an_unfinished_video_is_a_404(sqlite_server):
    client = client_for(sqlite_server)
    video = client.videos.create(prompt=PROMPT, extra_body={"steps": 200})
    with pytest.raises(openai.NotFoundError):
        client.videos.download_content(video.id)


def test_progress_streams_by_server_sent_events_until_done(client, server):
    video = client.videos.create(prompt=PROMPT, extra_body={"steps": 200})
    events = []
    with httpx.stream("GET", f"{server.base}/api/videos/{video.id}/events", timeout=60) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        kind = None
        for line in response.iter_lines():
            if line.startswith("event:"):
                kind = line.split(":", 1)[1].strip()
            elif line.startswith("data:"):
                events.append((kind, json.loads(line.split(":", 1)[1])))
    kinds = [kind for kind, _ in events]
    assert kinds[-1] == "done" and set(kinds[:-1]) == {"progress"}
    assert events[-1][1]["status"] == "completed" and events[-1][1]["progress"] == 100
    progress = [data["progress"] for _, data in events]
    assert progress == sorted(progress) and any(0 < p < 100 for p in progress)
    assert all(data["eta_seconds"] is not None for kind, data in events if kind == "progress")
