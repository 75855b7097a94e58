"""Strategy defaults from the environment, validation, and deletes that never hit an FK."""

from __future__ import annotations

from decimal import Decimal

import pytest
from sqlalchemy import select

from arenabrain.credits import locks, strategies
from arenabrain.credits.models import Strategy
from arenabrain.credits.schemas import StrategyCreate, StrategyUpdate
from arenabrain.web.errors import AppError, Conflict
from tests.credits.conftest import make_strategy
from tests.credits.fakes import OWNER, wallet


async def test_new_strategies_take_their_defaults_from_the_environment(make_ctx) -> None:
    ctx = await make_ctx(
        DISTRIBUTION_MODE="EQUAL_SPLIT",
        DISTRIBUTION_TOP_N="7",
        DEFAULT_KEY_LIMIT_USD="25",
        KEY_LIMIT_RESET="null",
        KEY_EXPIRY_DAYS="0",
        SWAP_SLIPPAGE_BPS="120",
        CREDIT_POOL_RESERVE_PCT="20",
        CRON_EXPRESSION="0 3 * * *",
        FEE_THRESHOLD_SOL="2.5",
        FEE_SOURCE="PARTNER_FEES",
        DISTRIBUTION_TOKEN_MINT=wallet(7),
    )
    view = await strategies.create_strategy(ctx, StrategyCreate.of(owner_wallet=OWNER))
    assert view.distribution == "EQUAL_SPLIT" and view.distribution_top_n == 7
    assert view.key_config.default_limit_usd == Decimal(25)
    assert view.key_config.limit_reset is None and view.key_config.expiry_days == 0
    assert view.swap_config.slippage_bps == 120
    assert view.credit_pool_reserve_pct == 20.0
    assert view.schedule == "0 3 * * *"
    assert view.min_claim_threshold == Decimal("2.5")
    assert view.source == "PARTNER_FEES"
    assert view.distribution_token == wallet(7)


async def test_a_default_schedule_that_is_too_frequent_is_refused_with_the_reason(make_ctx) -> None:
    ctx = await make_ctx(CRON_EXPRESSION="*/5 * * * *")
    with pytest.raises(AppError) as info:
        await strategies.create_strategy(ctx, StrategyCreate.of(owner_wallet=OWNER))
    assert info.value.status_code == 400
    assert "MIN_CRON_INTERVAL_HOURS" in info.value.message


async def test_update_validates_everything_before_writing(cctx) -> None:
    view = await make_strategy(cctx)
    with pytest.raises(AppError):
        await strategies.update_strategy(
            cctx,
            view.strategy_id,
            StrategyUpdate.of(
                distribution_top_n=3, key_config={"default_limit_usd": Decimal(5000)}
            ),
        )
    assert (await strategies.get_strategy(cctx, view.strategy_id)).distribution_top_n == 100
    custom = await strategies.update_strategy(
        cctx,
        view.strategy_id,
        StrategyUpdate.of(
            distribution="CUSTOM_LIST", custom_allocations={wallet(1): Decimal("2.5")}
        ),
    )
    assert custom.custom_allocations == {wallet(1): Decimal("2.5")}


async def test_delete_without_history_removes_the_row(cctx) -> None:
    view = await make_strategy(cctx)
    result = await strategies.delete_strategy(cctx, view.strategy_id)
    assert result.soft is False
    async with cctx.db.read() as session:
        assert await session.get(Strategy, view.strategy_id) is None


async def test_delete_with_history_is_soft_and_hidden(cctx, world) -> None:
    from arenabrain.credits import runs

    view = await make_strategy(cctx)
    await runs.start_run(cctx, view.strategy_id, "api")
    result = await strategies.delete_strategy(cctx, view.strategy_id)
    assert result.soft is True
    assert await strategies.list_strategies(cctx) == []
    async with cctx.db.read() as session:
        row = (await session.scalars(select(Strategy))).one()
    assert row.deleted_at is not None and row.status == "PAUSED"


async def test_delete_is_refused_while_a_run_holds_the_lock(cctx, clock) -> None:
    view = await make_strategy(cctx)
    async with cctx.db.write() as session:
        await locks.acquire(session, view.strategy_id, "runner", clock.now())
    with pytest.raises(Conflict) as info:
        await strategies.delete_strategy(cctx, view.strategy_id)
    assert "in progress" in info.value.message
