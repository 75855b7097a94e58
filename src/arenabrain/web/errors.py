"""Domain errors carry their HTTP status; one handler maps them to `{"error", "statusCode"}`."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from arenabrain.logging import get_logger

INTERNAL_MESSAGE = "An internal error occurred"


class AppError(Exception):
    """An error a caller can act on: its message is shown, with its status code."""

    status_code = 400

    def __init__(self, message: str, status_code: int | None = None, **extra: Any) -> None:
        super().__init__(message)
        self.message = message
        if status_code is not None:
            self.status_code = status_code
        self.extra = extra


class NotFound(AppError):
    status_code = 404


class Conflict(AppError):
    status_code = 409


class Unauthorized(AppError):
    status_code = 401

    def __init__(self, message: str = "Unauthorized") -> None:
        super().__init__(message)


class TooManyRequests(AppError):
    status_code = 429

    def __init__(self, message: str, retry_after: int = 60) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class ServiceUnavailable(AppError):
    status_code = 503


def error_body(message: str, status_code: int, /, **extra: Any) -> dict[str, Any]:
    # Positional-only, so an extra field may itself be called `message` (the anchor's 429s).
    return {"error": message, "statusCode": status_code, **extra}


def install_error_handlers(app: FastAPI, *, production: bool) -> None:
    log = get_logger()

    @app.exception_handler(AppError)
    async def _app_error(request: Request, exc: AppError) -> JSONResponse:
        # Domain errors are written for their reader, so even a 503 keeps its message.
        message = exc.message
        headers = (
            {"Retry-After": str(exc.retry_after)} if isinstance(exc, TooManyRequests) else None
        )
        return JSONResponse(
            error_body(message, exc.status_code, **exc.extra), exc.status_code, headers=headers
        )

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        problems = []
        for error in exc.errors():
            where = ".".join(str(part) for part in error.get("loc", ()) if part != "body")
            problems.append(f"{where}: {error.get('msg')}" if where else str(error.get("msg")))
        return JSONResponse(error_body("; ".join(problems) or "Invalid request", 400), 400)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        message = exc.detail if isinstance(exc.detail, str) else "Request failed"
        if exc.status_code == 404 and message == "Not Found":
            message = f"Route {request.method}:{request.url.path} not found"
        return JSONResponse(
            error_body(message, exc.status_code), exc.status_code, headers=exc.headers
        )

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.error("Request error", err=exc, method=request.method, url=request.url.path)
        message = INTERNAL_MESSAGE if production else str(exc) or type(exc).__name__
        return JSONResponse(error_body(message, 500), 500)
