"""Authentication for the three route families, each a FastAPI dependency.

- Cron (`/api/cron/*`): `Authorization: Bearer <CRON_SECRET>`; fails closed in production when
  the secret is unset.
- CreditBrain API: `Authorization: Bearer <API_AUTH_TOKEN>`, with a per-IP brute-force guard.
- Admin: the `forecaster_admin` cookie, an HMAC-signed session id and timestamp valid for 7
  days while the server still holds the session (logging out deletes it; a new
  ADMIN_SESSION_SECRET invalidates every signature).

Dependencies run before body validation, so an unauthenticated bad request gets 401, not 400."""

from __future__ import annotations

import hashlib
import hmac
import re
from typing import Annotated

from fastapi import Depends, Request
from itsdangerous import BadSignature, TimestampSigner

from arenabrain.clock import Clock
from arenabrain.context import Context
from arenabrain.web import session_store
from arenabrain.web.client_ip import client_ip
from arenabrain.web.errors import TooManyRequests, Unauthorized

BEARER = re.compile(r"^Bearer\s+(.+)$")
ADMIN_COOKIE = "forecaster_admin"
ADMIN_SESSION_SECONDS = 7 * 24 * 3600
RATE_MESSAGE = "Too many requests. Please try again later."


async def get_ctx(request: Request) -> Context:
    # async: FastAPI runs a plain `def` dependency in a worker thread, a hand-off per request.
    ctx: Context = request.app.state.ctx
    return ctx


ContextDep = Annotated[Context, Depends(get_ctx)]


def tokens_match(given: str, expected: str) -> bool:
    """Constant-time comparison of UTF-8 bytes."""
    return hmac.compare_digest(given.encode(), expected.encode())


def bearer_token(request: Request) -> str | None:
    match = BEARER.match(request.headers.get("authorization", ""))
    return match.group(1).strip() if match else None


def ip_of(request: Request, ctx: Context) -> str:
    return client_ip(request, ctx.settings.trust_proxy_headers)


async def require_cron(request: Request, ctx: ContextDep) -> None:
    limiter = ctx.guards.cron
    key = ip_of(request, ctx)
    if not limiter.hit(key):
        raise TooManyRequests(RATE_MESSAGE, limiter.retry_after(key))
    secret = ctx.settings.arena_secret("cron_secret")
    token = bearer_token(request)
    if not secret or token is None or not tokens_match(token, secret):
        raise Unauthorized()


async def require_api_token(request: Request, ctx: ContextDep) -> None:
    limiter = ctx.guards.api_failures
    key = ip_of(request, ctx)
    if limiter.blocked(key):
        raise TooManyRequests(
            "Too many failed authentication attempts. Try again later.", limiter.retry_after(key)
        )
    expected = ctx.settings.api_auth_token
    token = bearer_token(request)
    if expected is None or token is None or not tokens_match(token, expected.get_secret_value()):
        limiter.hit(key)
        raise Unauthorized()
    limiter.reset(key)


class _ClockSigner(TimestampSigner):
    def __init__(self, secret: str, clock: Clock) -> None:
        super().__init__(secret, salt="forecaster-admin-session", digest_method=hashlib.sha256)
        self._clock = clock

    def get_timestamp(self) -> int:
        return int(self._clock.now().timestamp())


def issue_admin_token(secret: str, clock: Clock, session_id: str) -> str:
    return _ClockSigner(secret, clock).sign(session_id).decode()


def admin_token_session(token: str | None, secret: str | None, clock: Clock) -> str | None:
    """The session id of a token signed with `secret`, not older than 7 days and not from the
    future; None otherwise. Whether the session is still open is the store's to say."""
    if not token or not secret:
        return None
    signer = _ClockSigner(secret, clock)
    try:
        value, signed_at = signer.unsign(
            token, max_age=ADMIN_SESSION_SECONDS, return_timestamp=True
        )
    except BadSignature:
        return None
    if signed_at.timestamp() > clock.now().timestamp():
        return None
    return value.decode("utf-8", "replace")


def admin_cookie_session(request: Request, ctx: Context) -> str | None:
    """The session id the request's admin cookie carries (signature and age checked)."""
    settings = ctx.settings
    if settings.is_production and settings.admin_password is None:
        return None
    return admin_token_session(
        request.cookies.get(ADMIN_COOKIE), settings.arena_secret("admin_session_secret"), ctx.clock
    )


async def admin_session_valid(request: Request, ctx: Context) -> bool:
    session_id = admin_cookie_session(request, ctx)
    if session_id is None:
        return False
    async with ctx.db.read() as session:
        return await session_store.session_is_live(session, session_id, ctx.clock.now())


async def require_admin(request: Request, ctx: ContextDep) -> None:
    if await admin_session_valid(request, ctx):
        return  # a valid session bypasses the admin rate limit
    limiter = ctx.guards.admin
    key = ip_of(request, ctx)
    if not limiter.hit(key):
        raise TooManyRequests(RATE_MESSAGE, limiter.retry_after(key))
    raise Unauthorized()


CronAuth = Depends(require_cron)
ApiAuth = Depends(require_api_token)
AdminAuth = Depends(require_admin)
