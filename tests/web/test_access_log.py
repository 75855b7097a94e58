"""The access line: written at info, and below the configured level not even built (the app
gets the server's own `send`, with no wrapper or timing around it)."""

from __future__ import annotations

import io
import json
from typing import Any

from arenabrain.logging import configure_logging, is_enabled
from arenabrain.web.access_log import AccessLogMiddleware


async def serve_once(level: str) -> tuple[list[Any], str]:
    out = io.StringIO()
    configure_logging(level, stream=out)
    seen: list[Any] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        seen.append(send)
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b""}

    async def send(message: dict[str, Any]) -> None:
        seen.append(message["type"])

    scope = {"type": "http", "method": "GET", "path": "/x", "query_string": b"", "client": None}
    try:
        await AccessLogMiddleware(app)(scope, receive, send)
    finally:
        configure_logging("info")
    return [send, *seen], out.getvalue()


async def test_below_the_configured_level_no_access_line_is_built() -> None:
    (send, given, *_), out = await serve_once("error")
    assert given is send
    assert out == ""


async def test_at_info_one_access_line_with_the_status() -> None:
    (send, given, *_), out = await serve_once("info")
    assert given is not send
    (line,) = [json.loads(text) for text in out.splitlines()]
    assert line["res"] == {"statusCode": 204} and line["req"]["url"] == "/x"


def test_is_enabled_follows_the_configured_level() -> None:
    try:
        configure_logging("warn", stream=io.StringIO())
        assert not is_enabled("info") and is_enabled("warn") and is_enabled("error")
    finally:
        configure_logging("info")
    assert is_enabled("info") and not is_enabled("debug")
