"""Which address a request comes from, believing proxy headers only when told to."""

from __future__ import annotations

from starlette.requests import Request


def client_ip(request: Request, trust_proxy_headers: bool) -> str:
    if trust_proxy_headers:
        for header in ("cf-connecting-ip", "x-real-ip"):
            value = request.headers.get(header, "").strip()
            if value:
                return value
        forwarded = request.headers.get("x-forwarded-for", "")
        first = forwarded.split(",")[0].strip()
        if first:
            return first
    if request.client and request.client.host:
        return request.client.host
    return "unknown"
