"""Every error the API returns has OpenAI's shape, {"error": {"message", "type", "param", "code"}},
with the HTTP status OpenAI uses for it. Nothing a client sends may produce a 5xx."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from ..errors import InvalidRequest

log = logging.getLogger("ungated.api")

TYPES = {400: "invalid_request_error", 401: "authentication_error", 403: "permission_error",
         404: "invalid_request_error", 409: "invalid_request_error", 413: "invalid_request_error",
         415: "invalid_request_error", 422: "invalid_request_error", 429: "rate_limit_error"}


class ApiError(Exception):
    def __init__(self, status: int, message: str, param: str | None = None, code: str | None = None):
        super().__init__(message)
        self.status, self.message, self.param, self.code = status, message, param, code


def not_found(what: str, identifier: str) -> ApiError:
    return ApiError(404, f"no {what} with id {identifier!r}", code="not_found")


def error_response(status: int, message: str, param: str | None = None, code: str | None = None) -> JSONResponse:
    body = {"error": {"message": message, "type": TYPES.get(status, "server_error"), "param": param, "code": code}}
    return JSONResponse(body, status_code=status)


def install(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def api_error(_request: Request, err: ApiError) -> JSONResponse:
        return error_response(err.status, err.message, err.param, err.code)

    @app.exception_handler(InvalidRequest)
    async def invalid_request(_request: Request, err: InvalidRequest) -> JSONResponse:
        return error_response(400, str(err), err.field, "invalid_value")

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, err: RequestValidationError) -> JSONResponse:
        problem = InvalidRequest.from_problem(err.errors()[0], skip=("body", "query", "path", "header"))
        return await invalid_request(request, problem)

    @app.exception_handler(HTTPException)
    async def http_error(_request: Request, err: HTTPException) -> JSONResponse:
        return error_response(err.status_code, str(err.detail), code=None)

    @app.exception_handler(Exception)
    async def unexpected(_request: Request, err: Exception) -> JSONResponse:
        log.exception("unexpected error")
        return error_response(500, "the server failed to handle this request; it has been logged")
