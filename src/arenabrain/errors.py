"""Domain errors: what went wrong, written for the caller who can fix it, with the HTTP status
that says so. They know nothing of HTTP otherwise; `web/errors.py` turns them into answers and
the CLI prints them."""

from __future__ import annotations

from typing import Any


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


class NotConfigured(ServiceUnavailable):
    """A feature the operator has not configured. Its message names what is missing (never a
    secret's value) and carries no upstream or exception text, so production shows it too."""
