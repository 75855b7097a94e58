"""Every request body is checked once, before any route reads it, for JSON that Python would
read into trouble; a route that then reads such a body gets a 400 with the standard error body.

Routes parse their bodies in two ways (FastAPI's body parameters, and a few hand parsers that
call `request.json()`); both trust `json.loads`, which raises `RecursionError` on deep nesting
(a 500 today), `ValueError` on integers of more than 4300 digits, and accepts `NaN`, `Infinity`
and numbers that overflow to `inf`. The check refuses:

- nesting deeper than `MAX_JSON_DEPTH` (no body of this API nests more than a few levels);
- `NaN`, `Infinity`, numbers that overflow a float and integers of more than
  `MAX_INTEGER_DIGITS` digits, naming the place in the body where they appear.

A body that is not JSON at all (a syntax error, not UTF-8) is left to the route's own parser,
which already answers it with a 400 (FastAPI's "JSON decode error", or the hand parsers' empty
object). The refusal happens when the app reads the body, not before: a route that checks
credentials before reading (the cron and admin routes) still answers 401 to a stranger, and a
route that never reads its body ignores it, as before. Form bodies (no route takes one today)
are not looked at. The body is read once and handed on unchanged; its size is bounded by
`BodyLimitMiddleware`, which runs outside this."""

from __future__ import annotations

import json
import math
from typing import Any

from fastapi.responses import JSONResponse
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from arenabrain.web.errors import error_body
from arenabrain.web.request_body import may_have_body

MAX_JSON_DEPTH = 32
MAX_INTEGER_DIGITS = 100  # far beyond any id, count or amount; Python reads at most 4300
FORM_TYPES = ("multipart/form-data", "application/x-www-form-urlencoded")


class _Unusable:
    """A JSON value Python would read into something no route can use, and why."""

    def __init__(self, reason: str) -> None:
        self.reason = reason


def _constant(text: str) -> _Unusable:
    return _Unusable(f"{text} is not a JSON number")


def _float(text: str) -> float | _Unusable:
    value = float(text)
    return value if math.isfinite(value) else _Unusable(f"{text[:20]} is not a finite JSON number")


def _int(text: str) -> int | _Unusable:
    if len(text.lstrip("-")) > MAX_INTEGER_DIGITS:
        return _Unusable(f"a JSON integer of more than {MAX_INTEGER_DIGITS} digits")
    return int(text)


def json_body_problem(body: bytes) -> str | None:
    """Why Python must not read `body` as JSON, or None when it may (also when it is not JSON
    at all: the route's parser answers that)."""
    if not body.strip():
        return None
    try:
        value = json.loads(body, parse_constant=_constant, parse_float=_float, parse_int=_int)
    except RecursionError:
        return f"JSON body nests deeper than {MAX_JSON_DEPTH} levels"
    except ValueError:  # JSONDecodeError, UnicodeDecodeError
        return None
    return _structure_problem(value)


def _structure_problem(value: Any) -> str | None:
    # Iterative, so checking depth cannot itself run out of stack.
    stack: list[tuple[Any, int, tuple[str, ...]]] = [(value, 1, ())]
    while stack:
        item, depth, path = stack.pop()
        if isinstance(item, _Unusable):
            where = ".".join(path)
            return f"{where}: {item.reason}" if where else item.reason
        if isinstance(item, dict | list):
            if depth > MAX_JSON_DEPTH:
                return f"JSON body nests deeper than {MAX_JSON_DEPTH} levels"
            pairs = item.items() if isinstance(item, dict) else enumerate(item)
            stack.extend((child, depth + 1, (*path, str(key)[:64])) for key, child in pairs)
    return None


class UnusableJsonBody(HTTPException):
    """Raised to the reader of a refused body; an HTTPException, so the app's error handlers
    answer it (FastAPI re-raises those from its body parsing, hand parsers catch only
    ValueError)."""

    def __init__(self, problem: str) -> None:
        super().__init__(400, problem)


class JsonBodyMiddleware:
    """Reads each request body once and hands it on; a body `json_body_problem` refuses makes
    the app's first read raise `UnusableJsonBody` instead."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or not may_have_body(scope)
            or Headers(scope=scope).get("content-type", "").startswith(FORM_TYPES)
        ):
            await self.app(scope, receive, send)
            return
        chunks: list[bytes] = []
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return  # the client went away before sending the whole body
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        problem = json_body_problem(body)
        replayed = False
        started = False

        async def replay() -> Message:
            nonlocal replayed
            if replayed:
                return await receive()  # after the body: wait for the disconnect
            replayed = True
            if problem is not None:
                raise UnusableJsonBody(problem)
            return {"type": "http.request", "body": body, "more_body": False}

        async def watched(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, replay, watched)
        except UnusableJsonBody as exc:
            if started:
                raise
            response = JSONResponse(error_body(str(exc.detail), 400), 400)
            await response(scope, receive, send)
