"""Batches and the queue in the artist's hands (issue 32): many prompts as one group, from JSON,
CSV or JSONL, every row checked first; reordering, pausing and cancelling one's own queue without
ever going ahead of another client's turn. In-process, on SQLite and PostgreSQL."""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from ungated.api.app import create_app
from ungated.api.service import ServiceConfig
from ungated.jobs import keys, members, queue
from ungated.jobs.quotas import Quota
from ungated.jobs.schema import Video
from ungated.jobs.storage import Storage
from ungated.jobs.store import Store

PASSWORD = "correct horse battery"
MODELS = ["builtin"]


@pytest.fixture
def server(tmp_path, db_url, monkeypatch):
    monkeypatch.setattr(keys, "DEFAULT_PER_MINUTE", 1000)  # members' quota limits them here, not the rate
    store = Store(db_url)
    store.migrate()
    config = ServiceConfig(public=True, quota=Quota(clips_per_day=200, gpu_seconds_per_day=None, concurrent_jobs=30,
                                                    concurrent_trainings=1))
    app = create_app(store, Storage(tmp_path / "files"), config)
    with TestClient(app, raise_server_exceptions=False):
        yield store, app
    store.dispose()


def join(app, store, name: str) -> TestClient:
    """A browser of a new member, signed up through an invite, sending the session's CSRF token."""
    _, code = members.create_invite(store, "cli")
    browser = TestClient(app, raise_server_exceptions=False)
    signed = browser.post("/api/members", json={"name": name, "password": PASSWORD, "invite": code})
    assert signed.status_code == 201, signed.text
    browser.headers["X-CSRF-Token"] = signed.json()["csrf_token"]
    return browser


def error(response) -> dict:
    return response.json()["error"]


def videos(store) -> list[Video]:
    with store.read() as session:
        return list(session.scalars(select(Video).order_by(Video.created_at)))


def batch(browser: TestClient, count: int, name: str = "clip") -> list[str]:
    made = browser.post("/api/batches", json={"prompts": "\n".join(f"{name} {i}" for i in range(count))})
    assert made.status_code == 200, made.text
    return [video["id"] for video in made.json()["data"]]


def claimed(store, count: int | None = None, **options) -> list[str]:
    taken = []
    while (count is None or len(taken) < count) and (video := queue.claim(store, "w", MODELS, **options)):
        taken.append(video.id)
    return taken


def test_ten_pasted_prompts_are_one_group_in_order(server):
    store, app = server
    ada = join(app, store, "Ada")
    prompts = [f"a red circle moving {i}" for i in range(10)]
    made = ada.post("/api/batches", json={"prompts": "\n".join(prompts) + "\n\n", "defaults": {"seconds": 2},
                                          "public": False})
    assert made.status_code == 200, made.text
    group = made.json()
    assert group["total"] == 10 and group["counts"]["queued"] == 10 and group["progress"] == 0
    assert [v["prompt"] for v in group["data"]] == prompts
    assert [v["variant"] for v in group["data"]] == list(range(10))
    assert {v["batch_id"] for v in group["data"]} == {group["batch_id"]}
    assert all(v["seconds"] == 2 and v["public"] is False for v in group["data"])
    assert [v["queue_position"] for v in group["data"]] == list(range(10))
    # The group reads back as one; workers take it in row order.
    again = ada.get(f"/api/batches/{group['batch_id']}").json()
    assert [v["id"] for v in again["data"]] == [v["id"] for v in group["data"]]
    assert claimed(store) == [v["id"] for v in group["data"]]
    progress = ada.get(f"/api/batches/{group['batch_id']}").json()
    assert progress["counts"]["in_progress"] == 10 and not progress["done"]
    # Rows with their own settings over the defaults.
    rows = ada.post("/api/batches", json={"rows": [{"prompt": "one", "seed": 7}, {"prompt": "two", "seconds": 3}],
                                          "defaults": {"seconds": 4, "negative_prompt": "blur"}})
    assert rows.status_code == 200, rows.text
    one, two = rows.json()["data"]
    assert (one["seed"], one["seconds"], two["seconds"]) == (7, 4, 3)
    assert one["request"]["negative_prompt"] == two["request"]["negative_prompt"] == "blur"


def test_a_bad_row_is_refused_naming_it_and_nothing_is_queued(server):
    store, app = server
    ada = join(app, store, "Ada")
    rows = [{"prompt": f"clip {i}"} for i in range(5)]
    rows[3]["seconds"] = -4
    refused = ada.post("/api/batches", json={"rows": rows})
    assert refused.status_code == 400
    assert error(refused)["param"] == "rows.3.seconds" and error(refused)["message"].startswith("row 4: seconds")
    bad_default = ada.post("/api/batches", json={"prompts": "a\nb", "defaults": {"seconds": "long"}})
    assert error(bad_default)["param"] == "defaults.seconds", bad_default.text
    cases = [({"rows": [{"prompt": "a"}, {"prompt": "b", "model": "nope"}]}, "rows.1.model"),
             ({"rows": [{"prompt": "a"}, "b"]}, "rows.1"),
             ({"rows": [{"prompt": "a", "colour": "red"}]}, "rows.0.colour"),
             ({"rows": [{"prompt": "a", "image": "data:image/png;base64,AAAA"}]}, "rows.0.image"),
             ({"rows": [{"seconds": 3}]}, "rows.0.prompt"),
             ({"prompts": "\n".join(["a"] * 101)}, "rows"),
             ({"rows": [{"prompt": "a", "variants": 4}] * 30}, "rows"),
             ({"prompts": " \n "}, "rows"),
             ({"prompts": "a", "rows": [{"prompt": "b"}]}, "rows"),
             ({"prompts": "a", "sideways": True}, "sideways")]
    for body, param in cases:
        answer = ada.post("/api/batches", json=body)
        assert answer.status_code == 400 and error(answer)["param"] == param, (body, answer.text)
    # The member's quota holds for the batch as a whole (30 at once here).
    over = ada.post("/api/batches", json={"prompts": "\n".join(["a"] * 31)})
    assert over.status_code == 429 and error(over)["param"] == "concurrent_jobs"
    assert videos(store) == []


def test_csv_and_jsonl_files_with_settings_per_row(server):
    store, app = server
    ada = join(app, store, "Ada")
    csv_file = ("prompt,seconds,seed,negative_prompt,provenance.publish_prompt\n"
                "\"a red circle, moving\",3,11,,\n"
                "a blue square,,12,blur,false\n")
    made = ada.post("/api/batches", files={"file": ("rows.csv", csv_file.encode(), "text/csv")},
                    data={"defaults[seconds]": "2", "public": "true"})
    assert made.status_code == 200, made.text
    first, second = made.json()["data"]
    assert (first["prompt"], first["seconds"], first["seed"]) == ("a red circle, moving", 3, 11)
    assert (second["seconds"], second["seed"], second["request"]["negative_prompt"]) == (2, 12, "blur")
    assert second["prompt_private"] is True and first["public"] is True
    jsonl = b'{"prompt": "one", "seed": 1}\n\n{"prompt": "two", "seconds": 3, "model": "builtin"}\n'
    made = ada.post("/api/batches", files={"file": ("rows.jsonl", jsonl, "application/jsonl")})
    assert made.status_code == 200, made.text
    assert [(v["prompt"], v["seed"]) for v in made.json()["data"]][0] == ("one", 1)
    # A bad cell or line names its row; a CSV without a header naming every column is refused.
    for data, param in [(b"prompt,seed\na,1\nb,minus one\n", "rows.1.seed"), (b"prompt,seed\na,1,extra\n", "rows.0"),
                        (b'{"prompt": "a"}\n{"prompt": \n', "rows.1"), (b"prompt,\na,b\n", "file"),
                        (b"\xff\xfe", "file")]:
        refused = ada.post("/api/batches", files={"file": ("rows", data, "text/plain")})
        assert refused.status_code == 400 and error(refused)["param"] == param, (data, refused.text)
    as_text = ada.post("/api/batches", data={"file": "prompt\na\n"})
    assert as_text.status_code == 400 and error(as_text)["param"] == "file"
    as_json = ada.post("/api/batches", data={"prompts": "one\ntwo", "defaults": '{"seconds": 3}'})
    assert [v["seconds"] for v in as_json.json()["data"]] == [3, 3], as_json.text
    assert len(videos(store)) == 6


def test_reordering_ones_own_jobs_never_goes_ahead_of_another_clients_turn(server):
    store, app = server
    ada, bob = join(app, store, "Ada"), join(app, store, "Bob")
    a = batch(ada, 3, "ada")
    b = batch(bob, 3, "bob")
    moved = ada.post(f"/api/videos/{a[2]}/move", json={"before": a[0]})
    assert moved.status_code == 200, moved.text
    assert [v["id"] for v in moved.json()["data"]] == [a[2], a[0], a[1]]
    assert [v["place"] for v in moved.json()["data"]] == [0, 1, 2]
    # Ada's last is now her first, and still takes turns with Bob: she gained no turn of his.
    assert ada.get(f"/api/videos/{a[2]}").json()["queue_position"] == 0
    assert ada.get(f"/api/videos/{a[1]}").json()["queue_position"] == 4
    assert ada.post(f"/api/videos/{a[2]}/move", json={"position": 2}).status_code == 200
    assert [v["id"] for v in ada.post(f"/api/videos/{a[1]}/move", json={"before": None}).json()["data"]] == \
        [a[0], a[2], a[1]]
    assert [v["id"] for v in ada.post(f"/api/videos/{a[1]}/move", json={"position": 0}).json()["data"]] == \
        [a[1], a[0], a[2]]
    # Nobody moves another's video, before another's, out of range, or one that started.
    assert bob.post(f"/api/videos/{a[0]}/move", json={"position": 0}).status_code == 403
    assert error(ada.post(f"/api/videos/{a[0]}/move", json={"before": b[0]}))["param"] == "before"
    assert error(ada.post(f"/api/videos/{a[0]}/move", json={"position": 3}))["param"] == "position"
    assert error(ada.post(f"/api/videos/{a[0]}/move", json={"position": -1}))["param"] == "position"
    assert error(ada.post(f"/api/videos/{a[0]}/move", json={"position": 0, "before": a[1]}))["param"] == "position"
    assert TestClient(app).post(f"/api/videos/{a[0]}/move", json={"position": 0}).status_code == 401
    assert claimed(store) == [a[1], b[0], a[0], b[1], a[2], b[2]]
    assert ada.post(f"/api/videos/{a[0]}/move", json={"position": 0}).status_code == 409


def test_a_reorder_with_shared_tags_only_ever_moves_ones_own_later(store):
    from ungated.jobs import own_queue

    job = queue.NewJob(model="builtin", requested_model="builtin", request={"prompt": "p"}, prompt="p",
                       size="64x64", seconds=2.0, seed=1, steps=10)
    other = queue.submit(store, [job] * 2, client="other")
    mine = queue.submit(store, [job] * 3, client="me")
    with store.write() as session:  # a retried job can come back with a tag one of theirs has
        session.get(Video, mine[1].id).fair_key = 0
    assert own_queue.move(store, "me", mine[0].id, position=2) == [mine[1].id, mine[2].id, mine[0].id]
    with store.read() as session:
        tags = [session.get(Video, video.id).fair_key for video in (mine[1], mine[2], mine[0])]
    assert tags == [0, 1, 2]
    assert claimed(store) == [other[0].id, mine[1].id, other[1].id, mine[2].id, mine[0].id]


def test_pausing_stops_the_claims_of_ones_own_jobs_only_and_they_keep_their_places(server):
    store, app = server
    ada, bob = join(app, store, "Ada"), join(app, store, "Bob")
    a = batch(ada, 3, "ada")
    b = batch(bob, 4, "bob")
    paused = ada.post("/api/me/queue/pause")
    assert paused.status_code == 200 and paused.json()["paused"] is True
    assert [v["id"] for v in paused.json()["data"]] == a and all(v["paused"] for v in paused.json()["data"])
    seen = ada.get(f"/api/videos/{a[1]}").json()
    assert seen["paused"] and seen["eta_seconds"] is None and not seen["waiting_for_worker"]
    assert bob.get(f"/api/videos/{b[1]}").json()["queue_position"] == 1  # Ada's no longer count ahead of his
    assert bob.get("/api/me/queue").json()["paused"] is False
    # Neither local nor remote (untrusted or not) workers take Ada's jobs; Bob's go on.
    assert claimed(store, 1, published_prompts_only=True) == [b[0]]
    assert queue.claim_next(store, "w", MODELS).id == b[1]
    # A newcomer's jobs start at the queue's turn, not at the turn Ada's paused jobs hold.
    cy = join(app, store, "Cy")
    c = batch(cy, 3, "cy")
    assert claimed(store) == [b[2], c[0], b[3], c[1], c[2]]
    resumed = ada.post("/api/me/queue/resume")
    assert resumed.json()["paused"] is False and [v["id"] for v in resumed.json()["data"]] == a
    assert claimed(store) == a
    # Resumed after the others moved on, Ada's jobs take turns from where the queue stands.
    a = batch(ada, 2, "ada")
    ada.post("/api/me/queue/pause")
    b = batch(bob, 3, "bob")
    assert claimed(store, 1) == b[:1]
    ada.post("/api/me/queue/resume")
    assert claimed(store) == [a[0], b[1], a[1], b[2]]


def test_cancel_all_and_cancel_a_group_touch_only_ones_own(server):
    store, app = server
    ada, bob = join(app, store, "Ada"), join(app, store, "Bob")
    a = batch(ada, 3, "ada")
    b_made = bob.post("/api/batches", json={"prompts": "x\ny\nz"}).json()
    b = [v["id"] for v in b_made["data"]]
    running = claimed(store, 1)
    assert running == [a[0]]
    # Another's group is not found, to read or to cancel.
    assert ada.get(f"/api/batches/{b_made['batch_id']}").status_code == 404
    assert ada.post(f"/api/batches/{b_made['batch_id']}/cancel").status_code == 404
    assert ada.get("/api/batches/batch_nothing").status_code == 404
    cancelled = ada.post("/api/me/queue/cancel")
    assert cancelled.status_code == 200 and sorted(cancelled.json()["cancelled"]) == sorted(a)
    assert cancelled.json()["data"] == [] and cancelled.json()["counts"]["queued"] == 0
    states = {v.id: (v.status, v.cancel_requested) for v in videos(store)}
    assert states[a[0]] == (queue.RUNNING, True)  # stops at its next step
    assert [states[i][0] for i in a[1:]] == [queue.CANCELLED] * 2 and {states[i][0] for i in b} == {queue.QUEUED}
    group = bob.post(f"/api/batches/{b_made['batch_id']}/cancel").json()
    assert group["counts"]["cancelled"] == 3 and group["done"] and group["progress"] == 100


def test_a_failed_video_is_retried_as_a_new_one_in_the_queue(server):
    store, app = server
    ada = join(app, store, "Ada")
    first = batch(ada, 1)[0]
    taken = queue.claim(store, "w", MODELS)
    assert queue.fail(store, first, taken.lease_token, "engine_error", "out of memory", retry=False) == queue.FAILED
    retried = ada.post(f"/api/videos/{first}/retry")
    assert retried.status_code == 200, retried.text
    again = retried.json()["data"][0]
    assert again["status"] == "queued" and again["seed"] == taken.seed and again["prompt"] == taken.prompt
    assert again["remixed_from"] == first and again["queue_position"] == 0


def test_positions_follow_moves_and_pauses_at_once_for_everyone(server):
    """The polling path (events.VideoView) answers after each of these writes with what it changed."""
    store, app = server
    ada, bob = join(app, store, "Ada"), join(app, store, "Bob")
    a = batch(ada, 2, "ada")
    b = batch(bob, 1, "bob")
    assert [bob.get(f"/api/videos/{i}").json()["queue_position"] for i in (*a, *b)] == [0, 2, 1]
    ada.post(f"/api/videos/{a[1]}/move", json={"position": 0})
    assert [bob.get(f"/api/videos/{i}").json()["queue_position"] for i in (*a, *b)] == [2, 0, 1]
    ada.post("/api/me/queue/pause")
    assert bob.get(f"/api/videos/{b[0]}").json()["queue_position"] == 0
    ada.post("/api/me/queue/resume")
    assert bob.get(f"/api/videos/{b[0]}").json()["queue_position"] == 1
    queue_now = ada.get("/api/me/queue").json()
    assert [(v["id"], v["place"], v["queue_position"]) for v in queue_now["data"]] == [(a[1], 0, 0), (a[0], 1, 2)]
    assert all(v["eta_seconds"] is not None for v in queue_now["data"])
    assert json.dumps(queue_now)  # plain JSON all through
