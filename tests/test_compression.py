"""What the server compresses: the studio's text and the API's JSON reads, never a clip, an event
stream or an answer carrying a secret (BREACH)."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from ungated.api.app import create_app
from ungated.jobs.storage import Storage
from ungated.jobs.store import Store


@pytest.fixture
def client(tmp_path):
    store = Store(f"sqlite:///{tmp_path / 'store.db'}")
    store.migrate()
    with TestClient(create_app(store, Storage(tmp_path / "files"))) as client:
        yield client
    store.dispose()


def encoding(answer) -> str | None:
    return answer.headers.get("content-encoding")


def test_the_studios_files_and_the_apis_json_reads_are_gzipped(client):
    for path in ("/", "/static/i18n.js", "/static/locales/ko.json", "/api/models"):
        answer = client.get(path, headers={"Accept-Encoding": "gzip"})
        assert answer.status_code == 200 and encoding(answer) == "gzip", path
    assert encoding(client.get("/static/i18n.js", headers={"Accept-Encoding": "identity"})) is None


def test_an_answer_with_a_secret_is_never_compressed(client):
    session = client.get("/api/session", headers={"Accept-Encoding": "gzip"})
    assert session.status_code == 200 and "csrf_token" in session.json() and encoding(session) is None
    key = client.post("/api/me/keys", json={"name": "x" * 2000}, headers={"Accept-Encoding": "gzip"})
    assert encoding(key) is None
