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
    app.mount("/static", StaticFiles(directory=WEB), name="static")

    app.add_middleware(SecurityHeaders)


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
