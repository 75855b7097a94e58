"""One access line per request: `req {method, url, remoteAddress}`, `res {statusCode}`,
`responseTime` in milliseconds."""

from __future__ import annotations

import time
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from arenabrain.logging import get_logger, is_enabled


class AccessLogMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.log = get_logger()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        # Below the configured level the line is never built: no wrapper, no timing.
        if scope["type"] != "http" or not is_enabled("info"):
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status: dict[str, Any] = {"code": 500}

        async def record_status(message: Message) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, record_status)
        finally:
            query = scope.get("query_string", b"").decode("latin-1")
            client = scope.get("client")
            self.log.info(
                "request completed",
                req={
                    "method": scope["method"],
                    "url": scope["path"] + (f"?{query}" if query else ""),
                    "remoteAddress": client[0] if client else None,
                },
                res={"statusCode": status["code"]},
                responseTime=round((time.perf_counter() - started) * 1000, 1),
            )
