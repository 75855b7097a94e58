"""Strategies: create, read, update, enable/disable and delete fee-to-credits configurations.

New strategies take their defaults from the environment (FEE_SOURCE, DISTRIBUTION_MODE,
DISTRIBUTION_TOP_N, DEFAULT_KEY_LIMIT_USD, KEY_LIMIT_RESET, KEY_EXPIRY_DAYS, SWAP_SLIPPAGE_BPS,
CREDIT_POOL_RESERVE_PCT, CRON_EXPRESSION, FEE_THRESHOLD_SOL, DISTRIBUTION_TOKEN_MINT), which
is what the anchor's validated-but-ignored variables were meant for. Every value is checked
before anything is written: the owner wallet (and every listed wallet) must be a base58 public
key, the key limit may not exceed MAX_KEY_LIMIT_USD, the schedule must be a five-field crontab
that never fires more often than MIN_CRON_INTERVAL_HOURS.

A strategy with history (runs or keys) is soft-deleted (`deleted_at`, status PAUSED) so its
history stays readable; one without history is removed. Neither ever fails on a foreign key."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import delete, exists, null, select
from sqlalchemy.ext.asyncio import AsyncSession

from arenabrain.clients.solana import LAMPORTS_PER_SOL
from arenabrain.context import Context
from arenabrain.credits import locks
from arenabrain.credits.models import Run, Strategy, UserKey
from arenabrain.credits.schemas import (
    Deleted,
    KeyConfigView,
    StrategyCreate,
    StrategyFields,
    StrategyUpdate,
    StrategyView,
    SwapConfigView,
)
from arenabrain.cron import crontab_trigger
from arenabrain.db.ids import new_id
from arenabrain.settings import Settings
from arenabrain.web.errors import AppError, Conflict, NotFound

DEFAULT_MAX_PRICE_IMPACT_BPS = 300
FIRE_TIMES_CHECKED = 400


class StrategyNotFound(NotFound):
    def __init__(self) -> None:
        super().__init__("Strategy not found")


class InvalidStrategy(AppError):
    status_code = 400


# --- pure helpers ---------------------------------------------------------------------------


def schedule_problem(expression: str, min_hours: int, start: datetime) -> str | None:
    """Why a schedule is unusable (bad crontab, or fires more often than allowed), or None.

    The shortest gap is measured exactly over the next fire times (the anchor guessed from the
    text of the hour and minute fields and passed `* * * * *`, B21)."""
    try:
        trigger = crontab_trigger(expression)
    except ValueError as exc:
        return f"schedule {expression!r} is not a valid 5-field cron expression: {exc}"
    gap = shortest_gap(trigger, start)
    if gap is not None and gap < timedelta(hours=min_hours):
        return (
            f"schedule {expression!r} fires every {_human(gap)} at its most frequent; "
            f"MIN_CRON_INTERVAL_HOURS is {min_hours}"
        )
    return None


def shortest_gap(
    trigger: Any, start: datetime, count: int = FIRE_TIMES_CHECKED
) -> timedelta | None:
    previous = trigger.get_next_fire_time(None, start)
    gap: timedelta | None = None
    for _ in range(count):
        if previous is None:
            break
        following = trigger.get_next_fire_time(previous, previous + timedelta(seconds=1))
        if following is None:
            break
        step = following - previous
        gap = step if gap is None else min(gap, step)
        previous = following
    return gap


def _human(gap: timedelta) -> str:
    minutes = int(gap.total_seconds() // 60)
    if minutes < 60:
        return f"{minutes} minute(s)"
    return f"{minutes / 60:g} hour(s)"


def whole_cents(amount: Decimal, field: str) -> int:
    cents = amount * 100
    if cents != cents.to_integral_value():
        raise InvalidStrategy(f"{field} must be a whole number of cents (got {amount})")
    return int(cents)


def lamports_of(sol: Decimal, field: str) -> int:
    lamports = sol * LAMPORTS_PER_SOL
    if lamports != lamports.to_integral_value():
        raise InvalidStrategy(f"{field} has more than 9 decimals (got {sol})")
    return int(lamports)


def exclusions_of(strategy: Strategy) -> list[str]:
    return [str(item) for item in json.loads(strategy.exclusion_list or "[]")]


def custom_weights_of(strategy: Strategy) -> dict[str, Decimal]:
    raw = json.loads(strategy.custom_allocations or "{}")
    return {str(wallet): Decimal(str(weight)) for wallet, weight in raw.items()}


def to_view(strategy: Strategy) -> StrategyView:
    return StrategyView(
        strategy_id=strategy.strategy_id,
        owner_wallet=strategy.owner_wallet,
        source=strategy.source,
        distribution_token=strategy.distribution_token,
        swap_config=SwapConfigView(
            slippage_bps=strategy.swap_slippage_bps,
            max_price_impact_bps=strategy.swap_max_price_impact_bps,
        ),
        distribution=strategy.distribution_mode,
        distribution_top_n=strategy.distribution_top_n,
        key_config=KeyConfigView(
            default_limit_usd=Decimal(strategy.key_limit_usd_cents) / 100,
            limit_reset=strategy.key_limit_reset,  # type: ignore[arg-type]
            expiry_days=strategy.key_expiry_days,
        ),
        credit_pool_reserve_pct=float(strategy.credit_pool_reserve_pct),
        exclusion_list=exclusions_of(strategy),
        custom_allocations=custom_weights_of(strategy),
        schedule=strategy.schedule,
        min_claim_threshold=Decimal(strategy.min_claim_threshold_lamports) / LAMPORTS_PER_SOL,
        status=strategy.status,
        last_run_id=strategy.last_run_id,
        created_at=strategy.created_at,
        updated_at=strategy.updated_at,
    )


def apply_fields(
    strategy: Strategy, body: StrategyFields, settings: Settings, now: datetime
) -> None:
    """Copy the fields present in `body` onto the row, validating each; raise InvalidStrategy."""
    given = body.model_fields_set
    if "distribution_token" in given:
        strategy.distribution_token = body.distribution_token or ""
    if body.distribution is not None:
        strategy.distribution_mode = body.distribution
    if body.distribution_top_n is not None:
        strategy.distribution_top_n = body.distribution_top_n
    if body.key_config is not None:
        key = body.key_config
        if key.default_limit_usd is not None:
            strategy.key_limit_usd_cents = whole_cents(
                key.default_limit_usd, "keyConfig.defaultLimitUsd"
            )
        if "limit_reset" in key.model_fields_set:
            strategy.key_limit_reset = key.limit_reset
        if key.expiry_days is not None:
            strategy.key_expiry_days = key.expiry_days
    if body.swap_config is not None:
        if body.swap_config.slippage_bps is not None:
            strategy.swap_slippage_bps = body.swap_config.slippage_bps
        if body.swap_config.max_price_impact_bps is not None:
            strategy.swap_max_price_impact_bps = body.swap_config.max_price_impact_bps
    if body.credit_pool_reserve_pct is not None:
        strategy.credit_pool_reserve_pct = float(body.credit_pool_reserve_pct)
    if body.exclusion_list is not None:
        strategy.exclusion_list = json.dumps(list(dict.fromkeys(body.exclusion_list)))
    if body.custom_allocations is not None:
        strategy.custom_allocations = json.dumps(
            {wallet: str(weight) for wallet, weight in body.custom_allocations.items()}
        )
    if body.schedule is not None:
        strategy.schedule = body.schedule.strip()
    if body.min_claim_threshold is not None:
        strategy.min_claim_threshold_lamports = lamports_of(
            body.min_claim_threshold, "minClaimThreshold"
        )
    check(strategy, settings, now)


def check(strategy: Strategy, settings: Settings, now: datetime) -> None:
    """Cross-field rules; raise InvalidStrategy naming what to fix."""
    max_cents = int(settings.max_key_limit_usd * 100)
    if strategy.key_limit_usd_cents > max_cents:
        raise InvalidStrategy(
            f"keyConfig.defaultLimitUsd {Decimal(strategy.key_limit_usd_cents) / 100} exceeds "
            f"MAX_KEY_LIMIT_USD ({settings.max_key_limit_usd})"
        )
    if strategy.key_limit_usd_cents <= 0:
        raise InvalidStrategy("keyConfig.defaultLimitUsd must be positive")
    problem = schedule_problem(strategy.schedule, settings.min_cron_interval_hours, now)
    if problem:
        raise InvalidStrategy(problem)
    if strategy.distribution_mode == "CUSTOM_LIST":
        weights = custom_weights_of(strategy)
        if not any(weight > 0 for weight in weights.values()):
            raise InvalidStrategy(
                "distribution CUSTOM_LIST needs customAllocations: {wallet: weight} with at "
                "least one positive weight"
            )


def new_strategy(body: StrategyCreate, settings: Settings, now: datetime) -> Strategy:
    strategy = Strategy(
        strategy_id=new_id(now),
        owner_wallet=body.owner_wallet,
        source=body.source or settings.fee_source,
        distribution_token=settings.distribution_token_mint or "",
        distribution_mode=settings.distribution_mode,
        distribution_top_n=settings.distribution_top_n,
        key_limit_usd_cents=whole_cents(settings.default_key_limit_usd, "DEFAULT_KEY_LIMIT_USD"),
        key_limit_reset=settings.key_limit_reset,
        key_expiry_days=settings.key_expiry_days,
        swap_slippage_bps=settings.swap_slippage_bps,
        swap_max_price_impact_bps=DEFAULT_MAX_PRICE_IMPACT_BPS,
        credit_pool_reserve_pct=float(settings.credit_pool_reserve_pct),
        exclusion_list="[]",
        custom_allocations="{}",
        schedule=settings.cron_expression,
        min_claim_threshold_lamports=lamports_of(settings.fee_threshold_sol, "FEE_THRESHOLD_SOL"),
        status="ACTIVE",
        created_at=now,
        updated_at=now,
    )
    apply_fields(strategy, body, settings, now)
    return strategy


# --- repository ------------------------------------------------------------------------------


async def get(session: AsyncSession, strategy_id: str, *, deleted: bool = False) -> Strategy | None:
    """The strategy row (soft-deleted ones only when `deleted`)."""
    found = await session.get(Strategy, strategy_id, populate_existing=True)
    if found is None or (found.deleted_at is not None and not deleted):
        return None
    return found


async def get_or_404(session: AsyncSession, strategy_id: str) -> Strategy:
    found = await get(session, strategy_id)
    if found is None:
        raise StrategyNotFound()
    return found


async def all_live(session: AsyncSession) -> list[Strategy]:
    rows = await session.scalars(
        select(Strategy)
        .where(Strategy.deleted_at.is_(None))
        .order_by(Strategy.created_at.desc(), Strategy.strategy_id.desc())
    )
    return list(rows)


async def has_history(session: AsyncSession, strategy_id: str) -> bool:
    runs = await session.scalar(select(exists().where(Run.strategy_id == strategy_id)))
    keys = await session.scalar(select(exists().where(UserKey.strategy_id == strategy_id)))
    return bool(runs or keys)


# --- jobs (one unit of work each) -----------------------------------------------------------


async def create_strategy(ctx: Context, body: StrategyCreate) -> StrategyView:
    """Create a strategy, with defaults from the environment for every field not given."""
    now = ctx.clock.now()
    strategy = new_strategy(body, ctx.settings, now)
    async with ctx.db.write() as session:
        if strategy.key_limit_reset is None:
            # The ORM would put the column default in place of a plain None on INSERT.
            strategy.key_limit_reset = null()  # type: ignore[assignment]
        session.add(strategy)
        await session.flush()
        await session.refresh(strategy)
    return to_view(strategy)


async def list_strategies(ctx: Context) -> list[StrategyView]:
    """Every strategy that is not deleted, newest first."""
    async with ctx.db.read() as session:
        return [to_view(s) for s in await all_live(session)]


async def get_strategy(ctx: Context, strategy_id: str) -> StrategyView:
    async with ctx.db.read() as session:
        return to_view(await get_or_404(session, strategy_id))


async def update_strategy(ctx: Context, strategy_id: str, body: StrategyUpdate) -> StrategyView:
    """Change the given fields; nothing is written unless every value is valid."""
    now = ctx.clock.now()
    async with ctx.db.write() as session:
        strategy = await get_or_404(session, strategy_id)
        apply_fields(strategy, body, ctx.settings, now)
        if body.status is not None:
            strategy.status = body.status
        strategy.updated_at = now
        return to_view(strategy)


async def set_status(ctx: Context, strategy_id: str, status: str) -> StrategyView:
    """Enable (ACTIVE) or disable (PAUSED) a strategy's scheduled runs."""
    now = ctx.clock.now()
    async with ctx.db.write() as session:
        strategy = await get_or_404(session, strategy_id)
        strategy.status = status
        strategy.updated_at = now
        return to_view(strategy)


async def delete_strategy(ctx: Context, strategy_id: str) -> Deleted:
    """Delete a strategy: soft when runs or keys refer to it, otherwise for good."""
    now = ctx.clock.now()
    async with ctx.db.write() as session:
        strategy = await get_or_404(session, strategy_id)
        if await locks.held_for(session, strategy_id, now) is not None:
            raise Conflict(
                "A run is in progress for this strategy; delete it after the run finishes"
            )
        if await has_history(session, strategy_id):
            strategy.deleted_at = now
            strategy.status = "PAUSED"
            strategy.updated_at = now
            return Deleted(strategy_id=strategy_id, soft=True)
        await session.execute(delete(Strategy).where(Strategy.strategy_id == strategy_id))
        return Deleted(strategy_id=strategy_id, soft=False)
