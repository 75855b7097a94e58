"""Whether a request can carry a body at all, read from the raw ASGI headers without building a
header mapping (the body middlewares ask on every request, and most requests are GETs)."""

from __future__ import annotations

from starlette.types import Scope


def may_have_body(scope: Scope) -> bool:
    """False only when HTTP framing rules a body out: no `Transfer-Encoding` and no
    `Content-Length`, or a `Content-Length` of 0 (RFC 9112 §6.3)."""
    for name, value in scope.get("headers", ()):
        if name == b"transfer-encoding" or (name == b"content-length" and value.strip() != b"0"):
            return True
    return False
