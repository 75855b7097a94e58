"""Holder keys: the `user_keys` repository and the key jobs behind /api/keys and `list-keys`.

One live key (ACTIVE or EXHAUSTED) per (strategy, wallet); a key is named
`creditbrain-<strategy tag>-<wallet[:8]>-<digest>`, where the digest is unique per strategy,
wallet and run, so provisioning can find a key that a crashed attempt created on OpenRouter
but never recorded. The plaintext is stored only encrypted (see `keystore`). Rotating and
revoking keys is in `rotation`."""

from __future__ import annotations

import hashlib
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, cast

from sqlalchemy import BigInteger, Boolean, Table, and_, bindparam, case, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from arenabrain.clients.openrouter.keys import OpenRouterKey
from arenabrain.context import Context
from arenabrain.credits import staged
from arenabrain.credits.models import LIVE_KEY_STATUSES, UserKey
from arenabrain.credits.schemas import UserKeyView
from arenabrain.credits.upstreams import Guard
from arenabrain.web.errors import NotFound

KEY_PREFIX = "creditbrain"


def strategy_tag(strategy_id: str) -> str:
    """Eight characters that tell strategies apart (our ids start with a timestamp)."""
    return strategy_id.rsplit("-", 1)[-1][:8]


def key_name(strategy_id: str, wallet: str, run_id: str) -> str:
    digest = hashlib.sha256(f"{strategy_id}:{wallet}:{run_id}".encode()).hexdigest()[:10]
    return f"{KEY_PREFIX}-{strategy_tag(strategy_id)}-{wallet[:8]}-{digest}"


def cents_of(amount: Decimal) -> int:
    return int((amount * 100).to_integral_value(rounding=ROUND_HALF_UP))


def to_view(key: UserKey) -> UserKeyView:
    return UserKeyView(
        key_id=key.key_id,
        strategy_id=key.strategy_id,
        holder_wallet=key.holder_wallet,
        openrouter_key_hash=key.openrouter_key_hash,
        key_name=key.key_name,
        spending_limit_usd=Decimal(key.limit_usd_cents) / 100,
        current_usage_usd=key.current_usage_usd,
        total_allocated_usd=Decimal(key.total_allocated_cents) / 100,
        limit_reset=key.limit_reset,
        status=key.status,
        collected=key.collected_at is not None,
        created_at=key.created_at,
        updated_at=key.updated_at,
        expires_at=key.expires_at,
        last_synced_at=key.last_synced_at,
    )


def remote_view(key: OpenRouterKey) -> dict[str, Any]:
    """The anchor's reduced OpenRouter key object (snake_case, as OpenRouter spells it)."""

    def number(value: Decimal | None) -> float | None:
        return float(value) if value is not None else None

    def moment(value: Any) -> str | None:
        return value.isoformat().replace("+00:00", "Z") if value is not None else None

    return {
        "hash": key.hash,
        "name": key.name,
        "disabled": key.disabled,
        "limit": number(key.limit),
        "limit_remaining": number(key.limit_remaining),
        "limit_reset": key.limit_reset,
        "usage": float(key.usage),
        "usage_daily": float(key.usage_daily),
        "usage_weekly": float(key.usage_weekly),
        "usage_monthly": float(key.usage_monthly),
        "created_at": moment(key.created_at),
        "updated_at": moment(key.updated_at),
        "expires_at": moment(key.expires_at),
    }


# --- repository ------------------------------------------------------------------------------


async def live_key(session: AsyncSession, strategy_id: str, wallet: str) -> UserKey | None:
    found = await session.scalar(
        select(UserKey).where(
            UserKey.strategy_id == strategy_id,
            UserKey.holder_wallet == wallet,
            UserKey.status.in_(LIVE_KEY_STATUSES),
        )
    )
    return found


async def live_keys(session: AsyncSession, strategy_id: str) -> dict[str, UserKey]:
    rows = await session.scalars(
        select(UserKey).where(
            UserKey.strategy_id == strategy_id, UserKey.status.in_(LIVE_KEY_STATUSES)
        )
    )
    return {row.holder_wallet: row for row in rows}


async def for_strategy(session: AsyncSession, strategy_id: str) -> list[UserKey]:
    rows = await session.scalars(
        select(UserKey)
        .where(UserKey.strategy_id == strategy_id)
        .order_by(UserKey.created_at.desc(), UserKey.key_id.desc())
    )
    return list(rows)


async def newest_live_for_wallet(session: AsyncSession, wallet: str) -> UserKey | None:
    found = await session.scalar(
        select(UserKey)
        .where(UserKey.holder_wallet == wallet, UserKey.status.in_(LIVE_KEY_STATUSES))
        .order_by(UserKey.created_at.desc(), UserKey.key_id.desc())
        .limit(1)
    )
    return found


async def by_hash(session: AsyncSession, key_hash: str) -> UserKey | None:
    found = await session.scalar(select(UserKey).where(UserKey.openrouter_key_hash == key_hash))
    return found


async def all_live(session: AsyncSession) -> list[UserKey]:
    rows = await session.scalars(select(UserKey).where(UserKey.status.in_(LIVE_KEY_STATUSES)))
    return list(rows)


_TABLE = cast(Table, UserKey.__table__)
_KEYS = _TABLE.c
_TOPPED_UP = (
    update(_TABLE)
    .where(_KEYS.openrouter_key_hash == bindparam("key_hash"))
    .values(
        limit_usd_cents=func.coalesce(
            bindparam("limit_cents", type_=BigInteger), _KEYS.limit_usd_cents
        ),
        total_allocated_cents=_KEYS.total_allocated_cents
        + bindparam("added_cents", type_=BigInteger),
        status=case(
            (and_(bindparam("reactivate", type_=Boolean), _KEYS.status == "EXHAUSTED"), "ACTIVE"),
            else_=_KEYS.status,
        ),
        updated_at=bindparam("now", type_=_KEYS.updated_at.type),
    )
)


def stage_top_up(
    session: AsyncSession,
    key_hash: str,
    *,
    limit_cents: int | None,
    added_cents: int,
    now: datetime,
) -> None:
    """Record a settled top-up on the key's row, staged (`staged`) with the unit of work's
    other rows: the limit OpenRouter showed (when it showed one) and, when the top-up
    applied (`added_cents` > 0), the allocation added and an EXHAUSTED key live again. A key
    with no row is left alone."""
    staged.execute(
        session,
        _TOPPED_UP,
        {
            "key_hash": key_hash,
            "limit_cents": limit_cents,
            "added_cents": added_cents,
            "reactivate": added_cents > 0,
            "now": now,
        },
        one_row=False,
    )


# --- jobs ------------------------------------------------------------------------------------


async def list_remote_keys(ctx: Context) -> list[dict[str, Any]]:
    """Every key on the OpenRouter account (reduced, snake_case)."""
    port = ctx.clients.keys
    keys = await Guard(ctx).call("openrouter", port.list_keys, what="GET /keys")
    return [remote_view(k) for k in keys]


async def get_remote_key(ctx: Context, key_hash: str) -> dict[str, Any]:
    port = ctx.clients.keys
    key = await Guard(ctx).call("openrouter", lambda: port.get_key(key_hash), what="GET /keys/:h")
    if key is None:
        raise NotFound("Key not found")
    return remote_view(key)


async def keys_for_strategy(ctx: Context, strategy_id: str) -> list[UserKeyView]:
    """The keys provisioned for a strategy's holders (every status), newest first."""
    async with ctx.db.read() as session:
        return [to_view(k) for k in await for_strategy(session, strategy_id)]


async def key_for_wallet(ctx: Context, wallet: str) -> UserKeyView:
    async with ctx.db.read() as session:
        key = await newest_live_for_wallet(session, wallet)
    if key is None:
        raise NotFound("No active key found for wallet")
    return to_view(key)
