"""JSON-line logs with the CreditBrain runbook's fields.

Every line has `level` (string), `time` (epoch milliseconds) and `msg`; errors carry
`err: {message, type}` (plus `stack` at debug); a pipeline run binds `runId`; the access
middleware writes `req`, `res` and `responseTime`. Any configured secret value is removed from
every line before it is written."""

from __future__ import annotations

import logging
import re
import sys
import time
import traceback
from collections.abc import Iterable, MutableMapping
from typing import Any, TextIO

import structlog

LEVELS = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warn": logging.WARNING,
    "error": logging.ERROR,
}
REDACTED = "[REDACTED]"
# Holder keys are never configured values, so their shape is removed as well.
_KEY_PATTERN = re.compile(r"sk-or-v1-[A-Za-z0-9]{8,}")


class SecretRedactor:
    """Replaces every occurrence of a configured secret, anywhere in the event, by a marker."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self.secrets: list[str] = []
        self.update(secrets)

    def update(self, secrets: Iterable[str]) -> None:
        # Longest first, so a secret that contains another is removed whole.
        self.secrets = sorted({s for s in secrets if s and len(s) >= 4}, key=len, reverse=True)

    def __call__(
        self, _logger: Any, _method: str, event: MutableMapping[str, Any]
    ) -> MutableMapping[str, Any]:
        return {key: self._clean(value) for key, value in event.items()}

    def _clean(self, value: Any) -> Any:
        if isinstance(value, str):
            for secret in self.secrets:
                if secret in value:
                    value = value.replace(secret, REDACTED)
            return _KEY_PATTERN.sub(REDACTED, value)
        if isinstance(value, dict):
            return {k: self._clean(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self._clean(v) for v in value]
        return value


redactor = SecretRedactor()


def _shape(_logger: Any, method: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """Rename structlog's keys to the runbook's and render exceptions as `err`."""
    level = event.pop("level", method)
    event["level"] = "warn" if level in {"warning", "warn"} else level
    event["time"] = int(time.time() * 1000)
    message = event.pop("event", None)
    if message is not None:
        event["msg"] = message
    exc = event.pop("exc_info", None)
    error = event.pop("err", None)
    if exc is True:
        exc = sys.exc_info()[1]
    elif isinstance(exc, tuple):
        exc = exc[1]
    if isinstance(error, BaseException):
        exc = error
        error = None
    if isinstance(exc, BaseException):
        error = {"message": str(exc), "type": type(exc).__name__}
        if _current_level <= logging.DEBUG:
            error["stack"] = "".join(traceback.format_exception(exc))
    if error is not None:
        event["err"] = error
    return event


_current_level = logging.INFO


class _ProcessStream:
    """`sys.stdout` or `sys.stderr` as it is at each write, not as it was when logging was
    configured: a caller that swapped in a temporary stream (a test runner, a CLI runner) may
    close it, and a line logged after that must still land."""

    def __init__(self, name: str) -> None:
        self.name = name

    def write(self, text: str) -> int:
        stream: TextIO = getattr(sys, self.name)
        return stream.write(text)

    def flush(self) -> None:
        stream: TextIO = getattr(sys, self.name)
        stream.flush()


STDOUT: Any = _ProcessStream("stdout")
STDERR: Any = _ProcessStream("stderr")


def configure_logging(
    level: str = "info", secrets: Iterable[str] = (), stream: TextIO | None = None
) -> None:
    """Configure structlog and the standard library to write JSON lines at `level`."""
    global _current_level
    _current_level = LEVELS.get(level, logging.INFO)
    redactor.update(secrets)
    output = stream or STDOUT
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            _shape,
            redactor,
            structlog.processors.JSONRenderer(),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(_current_level),
        logger_factory=structlog.PrintLoggerFactory(output),
        cache_logger_on_first_use=False,
    )
    # Library logs (uvicorn, apscheduler, alembic) go through the same shape and redaction.
    handler = logging.StreamHandler(output)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                _shape,
                redactor,
                structlog.processors.JSONRenderer(),
            ],
            foreign_pre_chain=[structlog.stdlib.add_log_level],
        )
    )
    root = logging.getLogger()
    root.handlers = [handler]
    root.setLevel(
        max(_current_level, logging.INFO) if _current_level > logging.DEBUG else logging.INFO
    )
    for noisy in ("uvicorn.access", "httpx", "httpcore", "aiosqlite", "sqlalchemy.engine"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def is_enabled(level: str) -> bool:
    """Whether a line at `level` would be written, so callers can skip building it."""
    return LEVELS[level] >= _current_level


def get_logger(**bound: Any) -> Any:
    return structlog.get_logger().bind(**bound) if bound else structlog.get_logger()
