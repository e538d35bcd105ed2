"""The web studio: static files from ungated/web, and one page for every route the page handles
itself (/, /feed, /me, /favourites, /train, /workers, /boards, /boards/{id}, /account, /moderation,
/admin, /join/{code}, /v/{id}), and the languages it speaks (/languages.json: one catalog a language in
web/locales, so adding a language is adding a file). Every response
carries a Content-Security-Policy that allows this server's own scripts, styles and media and nothing else."""

from __future__ import annotations

import json
from pathlib import Path

from fastapi import APIRouter, FastAPI
from fastapi.responses import FileResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from starlette.middleware.gzip import GZipMiddleware

WEB = Path(__file__).resolve().parents[1] / "web"
CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; media-src 'self' blob:; "
       "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")

router = APIRouter(include_in_schema=False)


def _page() -> FileResponse:
    return FileResponse(WEB / "index.html", media_type="text/html", headers={"Cache-Control": "no-cache"})


for path in ("/", "/feed", "/me", "/favourites", "/train", "/workers", "/boards", "/boards/{board_id}", "/account",
             "/moderation", "/admin", "/join/{code}"):
    router.add_api_route(path, _page, methods=["GET"])


@router.get("/v/{video_id}")
def share_page(video_id: str) -> FileResponse:
    return _page()


@router.get("/languages.json")
def languages() -> JSONResponse:
    """[{code, name}] for each catalog, its name in its own language (the switcher's choices)."""
    offered = [{"code": path.stem, "name": json.loads(path.read_text(encoding="utf-8")).get("_name", path.stem)}
               for path in sorted((WEB / "locales").glob("*.json"))]
    return JSONResponse(offered, headers={"Cache-Control": "no-cache"})


def install(app: FastAPI) -> None:
    app.include_router(router)
    app.mount("/static", StudioFiles(directory=WEB), name="static")

    app.add_middleware(SecurityHeaders)
    app.add_middleware(Compressed)


class StudioFiles(StaticFiles):
    """The studio's files, checked with the server each time they are used (a 304 by their ETag when
    unchanged): a browser never runs modules from before an upgrade with a page from after it."""

    def file_response(self, *args, **kwargs):
        response = super().file_response(*args, **kwargs)
        response.headers.setdefault("cache-control", "no-cache")
        return response


class Compressed:
    """gzip (Starlette's GZipMiddleware) for the studio's pages and files and the API's JSON, text that
    shrinks four to ten times; never for clips, images, weights, archives or event streams. Never for an
    answer that carries a secret (a new key's, a session's CSRF token): a compressed secret beside
    text an attacker chose leaks through the answer's length (BREACH), so the API's is GET only."""

    SECRETS = ("/api/session",)

    STUDIO = ("/static/", "/v/", "/boards/", "/join/")
    # The API: JSON only (a file the API serves as octet-stream or text/plain may be weights or a log).
    NOT_JSON = ("text/*", "image/*", "video/*", "audio/*", "font/*", "model/*", "multipart/*",
                "application/octet-stream", "application/zip", "application/gzip", "application/x-gzip",
                "application/x-tar", "application/grpc")

    def __init__(self, app):
        self.app, self.gzip = app, GZipMiddleware(app, minimum_size=1024)
        self.json_gzip = GZipMiddleware(app, minimum_size=1024, exclude_content_types=self.NOT_JSON)
        self.pages = {route.path for route in router.routes if "{" not in route.path}

    async def __call__(self, scope, receive, send) -> None:
        path = scope.get("path", "") if scope["type"] == "http" else ""
        if path.startswith(self.STUDIO) or path in self.pages:
            return await self.gzip(scope, receive, send)
        api_read = scope.get("method") == "GET" and path.startswith(("/api/", "/v1/")) and path not in self.SECRETS
        await (self.json_gzip if api_read else self.app)(scope, receive, send)


class SecurityHeaders:
    """The CSP and its companions on every response that does not set them itself (plain ASGI:
    Starlette's BaseHTTPMiddleware costs a task group and a stream per request)."""

    HEADERS = ((b"content-security-policy", CSP.encode()), (b"x-content-type-options", b"nosniff"),
               (b"referrer-policy", b"same-origin"))

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)

        async def with_headers(message):
            if message["type"] == "http.response.start":
                present = {name.lower() for name, _ in message.get("headers", ())}
                added = [header for header in self.HEADERS if header[0] not in present]
                if added:
                    message = {**message, "headers": [*message.get("headers", ()), *added]}
            await send(message)

        await self.app(scope, receive, with_headers)
