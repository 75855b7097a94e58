"""Admin login and logout (the arena's admin): the `forecaster_admin` session cookie, backed by
a stored session (`web.session_store`). Logins are the arena's events too
(`admin_login_success`, `admin_login_failed` in `system_logs`)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any, Literal

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, ConfigDict

from arenabrain.arena.system_logs import log_event
from arenabrain.logging import get_logger
from arenabrain.web import session_store
from arenabrain.web.auth import (
    ADMIN_COOKIE,
    ADMIN_SESSION_SECONDS,
    ContextDep,
    admin_cookie_session,
    ip_of,
    issue_admin_token,
    tokens_match,
)
from arenabrain.web.errors import AppError, NotConfigured, TooManyRequests, Unauthorized
from arenabrain.web.openapi import error_responses

router = APIRouter(tags=["admin"])
log = get_logger()


class SessionChanged(BaseModel):
    """The answer of a login and of a logout."""

    model_config = ConfigDict(extra="forbid")

    success: Literal[True]


async def _json_object(request: Request) -> dict[str, Any]:
    """Admin bodies are JSON objects; anything else reads as an empty object."""
    try:
        body = await request.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


# The body is read by hand (anything but an object reads as `{}`: "Password required");
# documented here so that the API's document says what the route takes.
LOGIN_BODY: dict[str, Any] = {
    "required": True,
    "content": {
        "application/json": {
            "schema": {
                "title": "AdminLogin",
                "type": "object",
                "properties": {"password": {"type": "string", "minLength": 1}},
                "required": ["password"],
            }
        }
    },
}


@router.post(
    "/api/admin/login",
    responses=error_responses(401, 429, 503),
    openapi_extra={"requestBody": LOGIN_BODY},
)
async def login(request: Request, response: Response, ctx: ContextDep) -> SessionChanged:
    """Exchange the admin password for a 7-day session cookie."""
    failures = ctx.guards.login_failures
    ip = ip_of(request, ctx)
    if failures.blocked(ip):
        raise TooManyRequests(
            "Too many attempts. Please try again later.", failures.retry_after(ip)
        )
    password = ctx.settings.arena_secret("admin_password")
    session_secret = ctx.settings.arena_secret("admin_session_secret")
    if not password or not session_secret:
        raise NotConfigured("Admin authentication is not configured")
    given = (await _json_object(request)).get("password")
    if not isinstance(given, str) or not given:
        raise AppError("Password required")
    now = ctx.clock.now()
    if not tokens_match(given, password):
        failures.hit(ip)
        log.warning("admin_login_failed", ip=ip)
        async with ctx.db.write() as session:
            await log_event(session, "admin_login_failed", {"ip": ip}, "warning", now)
        raise Unauthorized("Invalid password")
    failures.reset(ip)
    session_id = session_store.new_session_id()
    async with ctx.db.write() as session:
        await session_store.open_session(
            session, session_id, now, timedelta(seconds=ADMIN_SESSION_SECONDS)
        )
        await log_event(session, "admin_login_success", {"ip": ip}, "info", now)
    log.info("admin_login_success", ip=ip)
    response.set_cookie(
        ADMIN_COOKIE,
        issue_admin_token(session_secret, ctx.clock, session_id),
        max_age=ADMIN_SESSION_SECONDS,
        httponly=True,
        secure=ctx.settings.is_production,
        samesite="strict",
        path="/",
    )
    return SessionChanged(success=True)


@router.delete("/api/admin/login")
async def logout(request: Request, response: Response, ctx: ContextDep) -> SessionChanged:
    """End the admin session: the server forgets it (a copy of the cookie stops working) and
    the cookie is deleted. Succeeds without a session too."""
    session_id = admin_cookie_session(request, ctx)
    if session_id is not None:
        async with ctx.db.write() as session:
            await session_store.end_session(session, session_id)
    response.delete_cookie(ADMIN_COOKIE, path="/")
    return SessionChanged(success=True)
