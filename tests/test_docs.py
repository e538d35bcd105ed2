"""The docs stay true to the code: every route of the app is in docs/service.md and every route
named there is one of the app's; every command is in the README or docs/; every config.toml
setting is documented; and the config and request examples in the docs are ones ungated takes."""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path

import pytest
import typer
from fastapi.routing import iter_route_contexts

from ungated import settings
from ungated.api.app import create_app
from ungated.cli import app as cli_app
from ungated.engines.catalog import model_ids
from ungated.jobs.storage import Storage
from ungated.jobs.store import Store
from ungated.provenance.choices import ProvenanceChoices
from ungated.request import Request

ROOT = Path(__file__).resolve().parents[1]
SERVICE = ROOT / "docs" / "service.md"
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]

# Routes that are not the API, so not listed: the web studio's pages, static files and languages, and
# FastAPI's schema and the pages that show it.
NOT_API = {
    ("GET", "/"), ("GET", "/feed"), ("GET", "/me"), ("GET", "/favourites"), ("GET", "/train"), ("GET", "/workers"),
    ("GET", "/v/{}"), ("GET", "/boards"), ("GET", "/boards/{}"), ("GET", "/account"), ("GET", "/moderation"),
    ("GET", "/admin"), ("GET", "/join/{}"), ("GET", "/languages.json"),
    ("MOUNT", "/static"),
    ("GET", "/openapi.json"), ("GET", "/docs"), ("GET", "/docs/oauth2-redirect"), ("GET", "/redoc"),
}
METHODS = "GET|POST|PUT|PATCH|DELETE"


def normalised(path: str) -> str:
    """/api/videos/{video_id} and /api/videos/{id} alike; {path:path} too."""
    return re.sub(r"\{[^}]*\}", "{}", path)


def app_routes(tmp_path: Path) -> set[tuple[str, str]]:
    app = create_app(Store(f"sqlite:///{tmp_path / 'store.db'}"), Storage(tmp_path / "files"))
    routes = set()
    for route in iter_route_contexts(app.routes):
        for method in (getattr(route, "methods", None) or {"MOUNT"}) - {"HEAD"}:
            routes.add((method, normalised(route.path)))
    return routes


def documented_routes() -> set[tuple[str, str]]:
    """Every `METHOD /path` written in a code span of docs/service.md (a query string left off)."""
    spans = re.findall(r"`([^`]+)`", SERVICE.read_text())
    return {(method, normalised(path)) for span in spans
            for method, path in re.findall(rf"\b({METHODS}) (/[^\s`?]*)", span)}


def test_every_route_of_the_app_is_in_the_service_docs(tmp_path):
    routes = app_routes(tmp_path)
    assert NOT_API <= routes, f"no longer routes of the app; update NOT_API: {sorted(NOT_API - routes)}"
    missing = sorted(routes - NOT_API - documented_routes())
    assert not missing, f"routes missing from docs/service.md: {', '.join(f'{m} {p}' for m, p in missing)}"


def test_every_route_the_service_docs_name_is_a_route_of_the_app(tmp_path):
    extra = sorted(documented_routes() - app_routes(tmp_path))
    assert not extra, f"docs/service.md names routes the app lacks: {', '.join(f'{m} {p}' for m, p in extra)}"


def commands(group, prefix: str = "ungated") -> list[str]:
    found = []
    for name, command in getattr(group, "commands", {}).items():
        if not command.hidden:
            found.append(f"{prefix} {name}")
            found += commands(command, f"{prefix} {name}")
    return found


def test_every_command_is_in_the_readme_or_docs():
    text = "\n".join(path.read_text() for path in DOCS)
    listed = commands(typer.main.get_command(cli_app))
    assert {"ungated generate", "ungated models pull", "ungated train builtin", "ungated verify"} <= set(listed)
    missing = [command for command in listed if command not in text]
    assert not missing, f"commands missing from README.md and docs/: {', '.join(missing)}"


def test_every_setting_is_in_the_service_docs():
    text = SERVICE.read_text()
    for table, key, _ in settings.SETTINGS:
        assert f"| `[{table}]` | `{key}` |" in text, f"config.toml [{table}] {key} is missing from docs/service.md"


@pytest.mark.parametrize("doc", DOCS, ids=lambda path: path.name)
def test_config_examples_in_the_docs_hold_only_settings_ungated_reads(doc):
    for block in re.findall(r"```toml\n(.*?)```", doc.read_text(), re.S):
        known, problems = settings.check(tomllib.loads(block), model_ids())
        assert not problems, f"{doc.name}: {problems}"


@pytest.mark.parametrize("doc", DOCS, ids=lambda path: path.name)
def test_provenance_request_examples_are_what_the_api_takes(doc):
    """The provenance choices are one object in a request; alone, their fields are refused."""
    text = doc.read_text()
    for block in re.findall(r"```json\n(.*?)```", text, re.S):
        Request.build(**json.loads(block))
        text = text.replace(block, "")
    for example in re.findall(r'"provenance": (\{[^}]*\})', text):
        ProvenanceChoices(**json.loads(example))
        text = text.replace(example, "")
    for field in ProvenanceChoices.model_fields:
        assert f'"{field}"' not in text, f"{doc.name} shows {field} outside a provenance object"
