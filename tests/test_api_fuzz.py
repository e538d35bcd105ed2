"""Schemathesis generates requests from the service's OpenAPI schema, valid and not: none may get
a server error, and every error is JSON in OpenAI's shape."""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, settings

from ungated.api.app import create_app
from ungated.api.service import ServiceConfig
from ungated.jobs.storage import Storage
from ungated.jobs.store import Store


def make_app():
    import tempfile
    from pathlib import Path

    home = Path(tempfile.mkdtemp(prefix="ungated-fuzz-"))
    store = Store(f"sqlite:///{home / 'store.db'}")
    store.migrate()
    return create_app(store, Storage(home / "files"), ServiceConfig())


schema = schemathesis.openapi.from_asgi("/openapi.json", make_app())


@schema.parametrize()
@settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_request_gets_a_server_error(case):
    response = case.call(timeout=60)  # a cold first call to /api/verify loads C2PA and OpenCV
    assert response.status_code < 500, f"{case.method} {case.formatted_path}: {response.status_code} {response.text}"
    if response.status_code >= 400:
        error = response.json()["error"]
        assert error["message"] and error["type"].endswith("_error")


def test_the_schema_documents_both_apis():
    paths = schema.raw_schema["paths"]
    assert {"/v1/videos", "/v1/videos/{video_id}/remix", "/api/videos", "/api/feed"} <= set(paths)
    assert "multipart/form-data" in paths["/v1/videos"]["post"]["requestBody"]["content"]


pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")
