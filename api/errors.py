"""Errors as JSON with a stable `code` and a human `message`."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

from storage import catalog

log = logging.getLogger(__name__)

HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    416: "range_not_satisfiable",
    422: "invalid_request",
    429: "too_many_requests",
    503: "unavailable",
}


class ErrorPublic(BaseModel):
    """The body of every error response."""

    code: str
    message: str
    details: list[dict[str, Any]] | None = None


class ApiError(Exception):
    """An error the client can act on; `code` is stable, `message` is for people."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        headers: dict[str, str] | None = None,
        details: list[dict[str, Any]] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers
        self.details = details


def not_found(what: str = "resource") -> ApiError:
    return ApiError(404, "not_found", f"{what} not found")


def error_response(
    status: int,
    code: str,
    message: str,
    headers: dict[str, str] | None = None,
    details: list[dict[str, Any]] | None = None,
) -> JSONResponse:
    body = ErrorPublic(code=code, message=message, details=details)
    return JSONResponse(body.model_dump(exclude_none=True), status_code=status, headers=headers)


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def _api_error(_: Request, exc: ApiError) -> JSONResponse:
        return error_response(exc.status, exc.code, exc.message, exc.headers, exc.details)

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        details = [
            {"loc": list(error.get("loc", ())), "msg": str(error.get("msg", ""))}
            for error in exc.errors()
        ]
        return error_response(422, "invalid_request", "the request is not valid", None, details)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = HTTP_CODES.get(exc.status_code, "error")
        headers = dict(exc.headers) if exc.headers else None
        return error_response(exc.status_code, code, str(exc.detail), headers)

    @app.exception_handler(catalog.NotFound)
    async def _not_found(_: Request, exc: catalog.NotFound) -> JSONResponse:
        return error_response(404, "not_found", str(exc))

    @app.exception_handler(catalog.Conflict)
    async def _conflict(_: Request, exc: catalog.Conflict) -> JSONResponse:
        return error_response(409, "conflict", str(exc))

    @app.exception_handler(catalog.InvalidValue)
    async def _invalid_value(_: Request, exc: catalog.InvalidValue) -> JSONResponse:
        return error_response(422, "invalid_value", str(exc))

    @app.exception_handler(catalog.InvalidState)
    async def _invalid_state(_: Request, exc: catalog.InvalidState) -> JSONResponse:
        return error_response(409, "invalid_state", str(exc))

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return error_response(500, "internal_error", "an unexpected error occurred")


def error(description: str) -> dict[str, Any]:
    """An entry of a route's `responses`: an ErrorPublic body and what it means there."""
    return {"model": ErrorPublic, "description": description}


INVALID_BODY = error("The body is not valid JSON or breaks a field's rules")
UNAUTHENTICATED = error("No bearer access token, or it is invalid or expired")
THROTTLED = error("Too many failed attempts recently; retry after `Retry-After` seconds")
INVALID_LINK = error("The link is unknown, was used already or has expired")


def invalid_link() -> ApiError:
    return ApiError(400, "invalid_link", "the link is unknown, was used already or has expired")
