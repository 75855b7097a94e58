"""The admin sessions the server remembers: a cookie is valid only while its row exists.

Rows are keyed by a SHA-256 hash of the session id, so the table alone cannot be turned into
cookies (which also need ADMIN_SESSION_SECRET for their signature)."""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta

from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncSession

from arenabrain.db.service_models import AdminSession


def new_session_id() -> str:
    return secrets.token_urlsafe(32)


def session_hash(session_id: str) -> str:
    return hashlib.sha256(session_id.encode()).hexdigest()


async def open_session(
    session: AsyncSession, session_id: str, now: datetime, lifetime: timedelta
) -> None:
    """Remember a new session (and forget the expired ones)."""
    await session.execute(delete(AdminSession).where(AdminSession.expires_at <= now))
    session.add(
        AdminSession(
            session_hash=session_hash(session_id), created_at=now, expires_at=now + lifetime
        )
    )


async def session_is_live(session: AsyncSession, session_id: str, now: datetime) -> bool:
    row = await session.get(AdminSession, session_hash(session_id))
    return row is not None and row.expires_at > now


async def end_session(session: AsyncSession, session_id: str) -> None:
    await session.execute(
        delete(AdminSession).where(AdminSession.session_hash == session_hash(session_id))
    )
