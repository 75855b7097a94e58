"""The HTTP side of errors: one mapping from an exception to the `{"error", "statusCode"}`
answer, installed for every kind of error the app can raise.

Every 5xx answer gets a `reference` id, and one error log line carries the same id with the
real message (`err`), the status and the route. With APP_ENV=production the body of every 5xx
says only `An internal error occurred` (and the reference): upstream and exception text stays in
the logs, and so do a domain error's extra fields. `NotConfigured` alone keeps its message: it
names a missing setting and nothing else. 4xx answers are written for their caller and keep
their message everywhere.

The domain errors live in `arenabrain.errors`; their names are re-exported here for the modules
that still import them from this one."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from arenabrain.errors import (
    AppError,
    Conflict,
    NotConfigured,
    NotFound,
    ServiceUnavailable,
    TooManyRequests,
    Unauthorized,
)
from arenabrain.logging import get_logger

__all__ = [
    "ANSWERED",
    "INTERNAL_MESSAGE",
    "AppError",
    "Conflict",
    "NotConfigured",
    "NotFound",
    "ServiceUnavailable",
    "TooManyRequests",
    "Unauthorized",
    "error_body",
    "error_response",
    "install_error_handlers",
]

INTERNAL_MESSAGE = "An internal error occurred"
# Errors answered with their own message and status; anything else is a 500.
ANSWERED = (AppError, RequestValidationError, StarletteHTTPException)


def error_body(message: str, status_code: int, /, **extra: Any) -> dict[str, Any]:
    # Positional-only, so an extra field may itself be called `message` (the anchor's 429s).
    return {"error": message, "statusCode": status_code, **extra}


def new_reference() -> str:
    """A short id that ties a hidden 5xx answer to its log line."""
    return uuid.uuid4().hex[:16]


def hides_internal_errors(request: Request) -> bool:
    """Whether the app serving `request` hides 5xx detail (production; unknown apps do)."""
    return bool(getattr(request.app.state, "hide_internal_errors", True))


def _answer(request: Request, exc: Exception) -> tuple[int, str, dict[str, Any], Any]:
    """Status, message, extra fields and headers, as the caller should see them in development."""
    if isinstance(exc, AppError):
        headers = (
            {"Retry-After": str(exc.retry_after)} if isinstance(exc, TooManyRequests) else None
        )
        return exc.status_code, exc.message, dict(exc.extra), headers
    if isinstance(exc, RequestValidationError):
        problems = []
        for error in exc.errors():
            where = ".".join(str(part) for part in error.get("loc", ()) if part != "body")
            problems.append(f"{where}: {error.get('msg')}" if where else str(error.get("msg")))
        return 400, "; ".join(problems) or "Invalid request", {}, None
    if isinstance(exc, StarletteHTTPException):
        message = exc.detail if isinstance(exc.detail, str) else "Request failed"
        if exc.status_code == 404 and message == "Not Found":
            message = f"Route {request.method}:{request.url.path} not found"
        return exc.status_code, message, {}, exc.headers
    return 500, str(exc) or type(exc).__name__, {}, None


def error_response(
    request: Request, exc: Exception, *, production: bool | None = None
) -> JSONResponse:
    """The answer to an error raised while serving `request`."""
    status, message, extra, headers = _answer(request, exc)
    if status >= 500:
        reference = new_reference()
        get_logger().error(
            "Request error",
            err=exc,
            reference=reference,
            statusCode=status,
            method=request.method,
            url=request.url.path,
        )
        hide = hides_internal_errors(request) if production is None else production
        if hide and not isinstance(exc, NotConfigured):
            message, extra = INTERNAL_MESSAGE, {}
        extra["reference"] = reference
    return JSONResponse(error_body(message, status, **extra), status, headers=headers)


def install_error_handlers(app: FastAPI, *, production: bool) -> None:
    """Answer every error through `error_response`; production hides 5xx detail."""
    app.state.hide_internal_errors = production

    async def handle(request: Request, exc: Exception) -> JSONResponse:
        return error_response(request, exc)

    for kind in (*ANSWERED, Exception):
        app.add_exception_handler(kind, handle)
