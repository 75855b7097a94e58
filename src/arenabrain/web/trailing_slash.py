"""A path with a trailing slash is served by the route without it (`/api/strategies/` is
`/api/strategies`), with the same authentication and answer.

Starlette would instead redirect it with a 307, before authentication runs, which tells an
anonymous caller which protected routes exist and makes clients that do not follow redirects
for POST fail. No route of this service ends in a slash, so dropping it is always right; the app
also sets `redirect_slashes=False`, so no other path is redirected either."""

from __future__ import annotations

from starlette.types import ASGIApp, Receive, Scope, Send


class TrailingSlashMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope.get("path", "")
        if scope["type"] in ("http", "websocket") and len(path) > 1 and path.endswith("/"):
            scope = dict(scope, path=path.rstrip("/") or "/")
            raw_path = scope.get("raw_path")
            if isinstance(raw_path, bytes):
                scope["raw_path"] = raw_path.rstrip(b"/") or b"/"
        await self.app(scope, receive, send)
