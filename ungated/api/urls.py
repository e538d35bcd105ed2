"""Refusing URLs no route could use before any route sees them: a NUL or other control character
in the path or the query (PostgreSQL cannot even look such an id up, and no name ungated keeps
holds one)."""

from __future__ import annotations

import json
from urllib.parse import parse_qsl, unquote


def _bad(text: str) -> bool:
    return any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in text)


class CleanUrls:
    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] == "http":
            param = self._problem(scope)
            if param is not None:
                return await self._refuse(send, param)
        await self.app(scope, receive, send)

    @staticmethod
    def _problem(scope) -> str | None:
        """The part of the URL that holds a control character, or None."""
        if _bad(scope["path"]):
            return "path"
        query = scope.get("query_string", b"").decode("latin-1")
        for name, value in parse_qsl(query, keep_blank_values=True):
            if _bad(name) or _bad(value):
                return name if not _bad(name) else "query"
        return "query" if _bad(unquote(query)) else None

    @staticmethod
    async def _refuse(send, param: str) -> None:
        message = f"{param}: the URL holds a control character (such as %00); no id or name here has one"
        body = json.dumps({"error": {"message": message, "type": "invalid_request_error", "param": param,
                                     "code": "invalid_value"}}).encode()
        await send({"type": "http.response.start", "status": 400,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})
