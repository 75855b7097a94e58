"""The HTTP side of errors: one mapping from an exception to the `{"error", "statusCode"}`
answer, installed for every kind of error the app can raise.

The domain errors live in `arenabrain.errors`; their names are re-exported here for the modules
that still import them from this one."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from arenabrain.errors import (
    AppError,
    Conflict,
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


def error_response(request: Request, exc: Exception, *, production: bool = True) -> JSONResponse:
    """The answer to an error raised while serving `request`."""
    if isinstance(exc, AppError):
        # Domain errors are written for their reader, so even a 503 keeps its message.
        headers = (
            {"Retry-After": str(exc.retry_after)} if isinstance(exc, TooManyRequests) else None
        )
        return JSONResponse(
            error_body(exc.message, exc.status_code, **exc.extra), exc.status_code, headers=headers
        )
    if isinstance(exc, RequestValidationError):
        problems = []
        for error in exc.errors():
            where = ".".join(str(part) for part in error.get("loc", ()) if part != "body")
            problems.append(f"{where}: {error.get('msg')}" if where else str(error.get("msg")))
        return JSONResponse(error_body("; ".join(problems) or "Invalid request", 400), 400)
    if isinstance(exc, StarletteHTTPException):
        message = exc.detail if isinstance(exc.detail, str) else "Request failed"
        if exc.status_code == 404 and message == "Not Found":
            message = f"Route {request.method}:{request.url.path} not found"
        return JSONResponse(
            error_body(message, exc.status_code), exc.status_code, headers=exc.headers
        )
    get_logger().error("Request error", err=exc, method=request.method, url=request.url.path)
    message = INTERNAL_MESSAGE if production else str(exc) or type(exc).__name__
    return JSONResponse(error_body(message, 500), 500)


def install_error_handlers(app: FastAPI, *, production: bool) -> None:
    """Answer every error through `error_response`."""

    async def handle(request: Request, exc: Exception) -> JSONResponse:
        return error_response(request, exc, production=production)

    for kind in (*ANSWERED, Exception):
        app.add_exception_handler(kind, handle)
