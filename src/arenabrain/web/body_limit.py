"""A request body size limit (MAX_BODY_BYTES, 1 MiB by default) applied before anything reads
the body: 413 with the standard error body.

A declared `Content-Length` above the limit is refused before the app runs; a body sent without
one (chunked) is counted as it streams and refused as soon as it passes the limit, so an
unauthenticated client can never make the service hold more than the limit in memory.
Starlette's own limiter checks `Content-Length` only when the body is read and answers in plain
text, hence this one."""

from __future__ import annotations

from fastapi.responses import JSONResponse
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from arenabrain.web.errors import error_body
from arenabrain.web.request_body import may_have_body


class BodyTooLarge(HTTPException):
    """Raised by the counting `receive`; an HTTPException, so a route that was reading the body
    answers 413 through the app's error handlers, and anything else answers it here."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, too_large_message(limit))


def too_large_message(limit: int) -> str:
    return f"Request body is larger than {limit} bytes"


def declared_length(scope: Scope) -> int | None:
    value = Headers(scope=scope).get("content-length")
    return int(value) if value is not None and value.isdigit() else None


class BodyLimitMiddleware:
    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not may_have_body(scope):
            await self.app(scope, receive, send)
            return
        declared = declared_length(scope)
        if declared is not None and declared > self.max_bytes:
            await self._refuse(scope, receive, send)
            return
        received = 0
        started = False

        async def counted() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise BodyTooLarge(self.max_bytes)
            return message

        async def watched(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counted, watched)
        except BodyTooLarge:
            if started:
                raise
            await self._refuse(scope, receive, send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = JSONResponse(error_body(too_large_message(self.max_bytes), 413), 413)
        await response(scope, receive, send)
