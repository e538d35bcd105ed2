"""Every error the API returns has OpenAI's shape, {"error": {"message", "type", "param", "code"}},
with the HTTP status OpenAI uses for it. Nothing a client sends may produce a 5xx. An outage
(jobs/outages.py) is answered with 503 (the database is unavailable) or 507 (storage is full),
saying so, and a Retry-After header: never an unexplained 500."""

from __future__ import annotations

import logging
import math

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import SQLAlchemyError
from starlette.exceptions import HTTPException

from ..errors import InvalidRequest
from ..jobs import outages
from ..jobs.quotas import OverLimit

log = logging.getLogger("ungated.api")

TYPES = {400: "invalid_request_error", 401: "authentication_error", 403: "permission_error",
         404: "invalid_request_error", 409: "invalid_request_error", 413: "invalid_request_error",
         415: "invalid_request_error", 422: "invalid_request_error", 429: "rate_limit_error"}

# (status, seconds to wait before trying again, what the client is told) of each kind of outage.
OUTAGES = {
    outages.DATABASE_UNAVAILABLE: (503, 5, "the server's database is unavailable for the moment (restarting, "
                                           "unreachable or busy); try again in a few seconds"),
    outages.STORAGE_FULL: (507, 60, "the server's storage is full, so nothing new can be saved; try again later "
                                    "(its operator needs to free some space)"),
}


class ApiError(Exception):
    def __init__(self, status: int, message: str, param: str | None = None, code: str | None = None,
                 headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status, self.message, self.param, self.code, self.headers = status, message, param, code, headers


def over_limit(err: OverLimit) -> ApiError:
    """The 429 for a request over a key's limits (rate_limit_exceeded) or a member's quota
    (quota_exceeded, naming the limit, with Retry-After: when it resets)."""
    if err.param is None:
        return ApiError(429, str(err), code="rate_limit_exceeded")
    headers = {"Retry-After": str(max(1, math.ceil(err.retry_after)))} if err.retry_after else None
    return ApiError(429, str(err), err.param, "quota_exceeded", headers)


def not_found(what: str, identifier: str, param: str | None = None) -> ApiError:
    return ApiError(404, f"no {what} with id {identifier!r}", param, "not_found")


def error_response(status: int, message: str, param: str | None = None, code: str | None = None,
                   headers: dict[str, str] | None = None) -> JSONResponse:
    body = {"error": {"message": message, "type": TYPES.get(status, "server_error"), "param": param, "code": code}}
    return JSONResponse(body, status_code=status, headers=headers)


def outage_response(request: Request, err: Exception) -> JSONResponse | None:
    """The 503 or 507 for an outage, or None for any other error."""
    kind = outages.classify(err)
    if kind is None:
        return None
    status, retry_after, message = OUTAGES[kind]
    log.warning("%s %s: %s (%s)", request.method, request.url.path, kind, outages.describe(err))
    return error_response(status, message, code=kind, headers={"Retry-After": str(retry_after)})


def install(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def api_error(_request: Request, err: ApiError) -> JSONResponse:
        return error_response(err.status, err.message, err.param, err.code, err.headers)

    @app.exception_handler(InvalidRequest)
    async def invalid_request(_request: Request, err: InvalidRequest) -> JSONResponse:
        return error_response(400, str(err), err.field, "invalid_value")

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, err: RequestValidationError) -> JSONResponse:
        problem = InvalidRequest.from_problem(err.errors()[0], skip=("body", "query", "path", "header"))
        return await invalid_request(request, problem)

    @app.exception_handler(HTTPException)
    async def http_error(_request: Request, err: HTTPException) -> JSONResponse:
        # FastAPI's own 400 is for a body it could not parse (ungated's routes raise ApiError).
        return error_response(err.status_code, str(err.detail), "body" if err.status_code == 400 else None)

    # Outages arrive as the store's errors or as OSError; handled here, below the last-resort
    # handler, they are answered without a traceback in the log.
    @app.exception_handler(SQLAlchemyError)
    @app.exception_handler(OSError)
    async def store_or_storage(request: Request, err: Exception) -> JSONResponse:
        return outage_response(request, err) or await unexpected(request, err)

    @app.exception_handler(Exception)
    async def unexpected(request: Request, err: Exception) -> JSONResponse:
        if (response := outage_response(request, err)) is not None:
            return response
        log.error("unexpected error", exc_info=err)
        return error_response(500, "the server failed to handle this request; it has been logged")
