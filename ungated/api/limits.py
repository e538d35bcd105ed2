"""A cap on request bodies, enforced before anything reads them: by Content-Length when it is
given, and by counting otherwise (a chunked upload stops at the limit). And a body that stalls,
its sender silent for IDLE_BODY_SECONDS (a link gone down mid-upload, a slow-loris client), ends
as if the client had disconnected, so no handler waits on it for ever: an upload keeps what
arrived and its sender resumes from there."""

from __future__ import annotations

import asyncio
import json

from .service import MAX_VIDEO_BYTES

MAX_BODY_BYTES = MAX_VIDEO_BYTES + 2 * 2**20  # the largest upload plus its form fields
IDLE_BODY_SECONDS = 60.0  # as nginx's client_body_timeout: silence between two reads of a body
DISCONNECT = {"type": "http.disconnect"}


class _TooLarge(Exception):
    pass


def _error_body(limit: int) -> bytes:
    message = f"the request body is over {limit // 2**20} MB"
    return json.dumps({"error": {"message": message, "type": "invalid_request_error", "param": None,
                                 "code": "request_too_large"}}).encode()


class BodyLimit:
    """`limit` for every request, or a route's own: `routes` maps (method, path prefix) to a cap."""

    def __init__(self, app, limit: int = MAX_BODY_BYTES, routes: dict[tuple[str, str], int] | None = None):
        self.app, self.limit, self.routes = app, limit, routes or {}

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        limit = next((cap for (method, prefix), cap in self.routes.items()
                      if scope["method"] == method and scope["path"].startswith(prefix)), self.limit)
        length = dict(scope["headers"]).get(b"content-length", b"")
        if length.isdigit() and int(length) > limit:
            return await self._refuse(send, limit)
        seen, started, body_done, stalled = 0, False, False, False

        async def counted_receive():
            nonlocal seen, body_done, stalled
            if stalled:
                return DISCONNECT
            if body_done:  # after the body, receive() only waits for a disconnect: no time limit
                return await receive()
            try:
                message = await asyncio.wait_for(receive(), IDLE_BODY_SECONDS)
            except TimeoutError:
                stalled = True
                return DISCONNECT
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                body_done = not message.get("more_body", False)
                if seen > limit:
                    raise _TooLarge
            return message

        async def tracked_send(message):
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counted_receive, tracked_send)
        except _TooLarge:
            if not started:
                await self._refuse(send, limit)

    @staticmethod
    async def _refuse(send, limit: int) -> None:
        body = _error_body(limit)
        await send({"type": "http.response.start", "status": 413,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})
