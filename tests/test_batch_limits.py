"""A member of a community server, with the server's default quota and rate, may queue a batch of
ten at once (the studio's "Make many at once"): the defaults are sized for it."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from ungated.api.app import create_app
from ungated.api.service import ServiceConfig
from ungated.jobs import keys, members
from ungated.jobs.quotas import Quota
from ungated.jobs.storage import Storage
from ungated.jobs.store import Store


@pytest.fixture
def member(tmp_path):
    store = Store(f"sqlite:///{tmp_path / 'store.db'}")
    store.migrate()
    app = create_app(store, Storage(tmp_path / "files"), ServiceConfig(public=True))  # [community] defaults
    with TestClient(app, raise_server_exceptions=False):
        _, code = members.create_invite(store, "cli")
        browser = TestClient(app, raise_server_exceptions=False)
        signed = browser.post("/api/members", json={"name": "Ada", "password": "correct horse battery",
                                                    "invite": code})
        assert signed.status_code == 201, signed.text
        browser.headers["X-CSRF-Token"] = signed.json()["csrf_token"]
        yield browser
    store.dispose()


def test_the_defaults_let_a_member_queue_a_batch_of_ten(member):
    assert Quota().concurrent_jobs >= 10 and keys.DEFAULT_PER_MINUTE >= 10
    made = member.post("/api/batches", json={"prompts": "\n".join(f"a red circle {i}" for i in range(10)),
                                             "defaults": {"steps": 2}})
    assert made.status_code == 200, made.text
    assert made.json()["total"] == 10 and made.json()["counts"]["queued"] == 10
    # The rate still holds: ten videos a minute, the batch counting as its videos.
    over = member.post("/api/videos", json={"prompt": "one more", "steps": 2})
    assert over.status_code == 429 and "a minute" in over.json()["error"]["message"]
