"""Admin login and logout: the `forecaster_admin` session cookie."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response

from arenabrain.logging import get_logger
from arenabrain.web.auth import (
    ADMIN_COOKIE,
    ADMIN_SESSION_SECONDS,
    ContextDep,
    guards,
    ip_of,
    issue_admin_token,
    tokens_match,
)
from arenabrain.web.errors import AppError, ServiceUnavailable, TooManyRequests, Unauthorized

router = APIRouter()
log = get_logger()


async def _json_object(request: Request) -> dict[str, Any]:
    """Admin bodies are JSON objects; anything else reads as an empty object."""
    try:
        body = await request.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


@router.post("/api/admin/login")
async def login(request: Request, response: Response, ctx: ContextDep) -> dict[str, bool]:
    """Exchange the admin password for a 7-day session cookie."""
    failures = guards(ctx).login_failures
    ip = ip_of(request, ctx)
    if failures.blocked(ip):
        raise TooManyRequests(
            "Too many attempts. Please try again later.", failures.retry_after(ip)
        )
    password = ctx.settings.arena_secret("admin_password")
    session_secret = ctx.settings.arena_secret("admin_session_secret")
    if not password or not session_secret:
        raise ServiceUnavailable("Admin authentication is not configured")
    given = (await _json_object(request)).get("password")
    if not isinstance(given, str) or not given:
        raise AppError("Password required")
    if not tokens_match(given, password):
        failures.hit(ip)
        log.warning("admin_login_failed", ip=ip)
        raise Unauthorized("Invalid password")
    failures.reset(ip)
    log.info("admin_login_success", ip=ip)
    response.set_cookie(
        ADMIN_COOKIE,
        issue_admin_token(session_secret, ctx.clock),
        max_age=ADMIN_SESSION_SECONDS,
        httponly=True,
        secure=ctx.settings.is_production,
        samesite="strict",
        path="/",
    )
    return {"success": True}


@router.delete("/api/admin/login")
async def logout(response: Response) -> dict[str, bool]:
    """End the admin session (deletes the cookie)."""
    response.delete_cookie(ADMIN_COOKIE, path="/")
    return {"success": True}
