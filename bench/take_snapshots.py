"""Benchmark: take-snapshots over 5 cohorts x 8 agents x 50 open positions, spread over 300
markets (300 CLOB tokens), against the Polymarket emulators.

It prints the wall time of one run (best of REPEATS, each in a new 10-minute bucket, so every
run writes its rows afresh), the number of upstream requests the run made, and the goal for
that number: ceil(tokens / 500) batch requests (`POST /midpoints` takes at most 500 tokens).

The cohorts, agents and positions are written straight into the database (this measures the
snapshot job, not the trading that would have opened them); the markets come from a real sync.

Run: `.venv/bin/python bench/take_snapshots.py`."""

from __future__ import annotations

import asyncio
import math
import os
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from sqlalchemy import func, insert, select  # noqa: E402

from arenabrain.arena.markets import sync_markets  # noqa: E402
from arenabrain.arena.models import (  # noqa: E402
    Agent,
    BenchmarkConfig,
    BenchmarkConfigModel,
    Cohort,
    LegacyModel,
    Market,
    ModelFamily,
    ModelRelease,
    PortfolioSnapshot,
    Position,
)
from arenabrain.arena.pricing import token_ids  # noqa: E402
from arenabrain.arena.snapshots import take_snapshots  # noqa: E402
from arenabrain.clock import FrozenClock  # noqa: E402
from arenabrain.db.migrate import upgrade  # noqa: E402
from arenabrain.logging import configure_logging  # noqa: E402
from arenabrain.runtime import open_context  # noqa: E402
from arenabrain.sandbox import Sandbox, World  # noqa: E402
from arenabrain.sandbox.polymarket import configure_markets  # noqa: E402
from arenabrain.settings import load_settings  # noqa: E402

COHORTS, AGENTS, POSITIONS, MARKETS = 5, 8, 50, 300
REPEATS = 5
BATCH = 500
START = datetime(2026, 3, 1, 1, tzinfo=UTC)


async def add_slot(session: Any) -> None:
    """An eighth lineup slot in the default config (the seeded lineup has seven)."""
    config = await session.scalar(
        select(BenchmarkConfig.id).where(BenchmarkConfig.is_default_for_future_cohorts == 1)
    )
    names = {"provider": "Bench", "openrouter_id": "bench/extra-1"}
    await session.execute(
        insert(LegacyModel).values(
            id="bench-extra", display_name="Bench Extra", **names, color="#000000"
        )
    )
    await session.execute(
        insert(ModelFamily).values(
            id="bench-extra",
            slug="bench-extra",
            legacy_model_id="bench-extra",
            provider="Bench",
            family_name="Bench Extra",
            public_display_name="Bench Extra",
            short_display_name="Extra",
            sort_order=99,
        )
    )
    await session.execute(
        insert(ModelRelease).values(
            id="bench-extra--extra-1",
            family_id="bench-extra",
            release_name="Extra 1",
            release_slug="extra-1",
            **names,
        )
    )
    await session.execute(
        insert(BenchmarkConfigModel).values(
            id=f"{config}--bench-extra",
            benchmark_config_id=config,
            family_id="bench-extra",
            release_id="bench-extra--extra-1",
            slot_order=99,
            family_display_name_snapshot="Bench Extra",
            short_display_name_snapshot="Extra",
            release_display_name_snapshot="Extra 1",
            provider_snapshot="Bench",
            openrouter_id_snapshot="bench/extra-1",
            input_price_per_million_snapshot=1.0,
            output_price_per_million_snapshot=2.0,
        )
    )


async def seed(ctx: object, markets: list[Market]) -> None:
    """Five cohorts of eight agents, each holding fifty positions; together they hold every
    one of the 300 markets."""
    db = ctx.db  # type: ignore[attr-defined]
    async with db.write() as session:
        await add_slot(session)
        slots = (
            await session.execute(
                select(BenchmarkConfigModel, ModelFamily.legacy_model_id)
                .join(ModelFamily, ModelFamily.id == BenchmarkConfigModel.family_id)
                .join(
                    BenchmarkConfig, BenchmarkConfig.id == BenchmarkConfigModel.benchmark_config_id
                )
                .where(BenchmarkConfig.is_default_for_future_cohorts == 1)
                .order_by(BenchmarkConfigModel.slot_order)
            )
        ).all()[:AGENTS]
        assert len(slots) == AGENTS, len(slots)
        for number in range(1, COHORTS + 1):
            cohort_id = f"bench-cohort-{number}"
            await session.execute(
                insert(Cohort).values(
                    id=cohort_id,
                    cohort_number=number,
                    started_at=START - timedelta(days=7 * (COHORTS - number)),
                    methodology_version="v2",
                    benchmark_config_id=slots[0][0].benchmark_config_id,
                )
            )
            for index, (slot, legacy) in enumerate(slots):
                agent_id = f"{cohort_id}-agent-{index}"
                await session.execute(
                    insert(Agent).values(
                        id=agent_id,
                        cohort_id=cohort_id,
                        model_id=legacy or slot.family_id,
                        family_id=slot.family_id,
                        release_id=slot.release_id,
                        benchmark_config_model_id=slot.id,
                        cash_balance=7500.0,
                        total_invested=2500.0,
                    )
                )
                first = ((number - 1) * AGENTS + index) * POSITIONS
                rows = [
                    {
                        "id": f"{agent_id}-p{k}",
                        "agent_id": agent_id,
                        "market_id": markets[(first + k) % len(markets)].id,
                        "side": "YES" if k % 2 else "NO",
                        "shares": 100.0,
                        "avg_entry_price": 0.5,
                        "total_cost": 50.0,
                        "current_value": 50.0,
                        "unrealized_pnl": 0.0,
                        "status": "open",
                        "opened_at": START,
                    }
                    for k in range(POSITIONS)
                ]
                await session.execute(insert(Position), rows)


async def main() -> int:
    configure_logging("error", [])
    with tempfile.TemporaryDirectory(prefix="bench-snapshots-") as tmp:
        database = Path(tmp) / "bench.db"
        await asyncio.to_thread(upgrade, f"sqlite+aiosqlite:///{database}")
        clock = FrozenClock(START)
        world = World(clock=clock, seed=7)
        configure_markets(world, MARKETS, event_share=0.0, multi_share=0.0)
        sandbox = Sandbox(world)
        settings = load_settings(
            {
                "APP_ENV": "test",
                "DATABASE_PATH": str(database),
                "TOP_MARKETS_COUNT": str(MARKETS),
                "LOG_LEVEL": "error",
                "SCHEDULER_ENABLED": "false",
            },
            env_file=None,
        )
        async with open_context(
            settings, clock=clock, transports=sandbox.transports(), migrate=False
        ) as ctx:
            await sync_markets(ctx)
            async with ctx.db.read() as session:
                markets = list(await session.scalars(select(Market).order_by(Market.id)))
            assert len(markets) == MARKETS, len(markets)
            await seed(ctx, markets)
            tokens = len(token_ids(markets))
            best = math.inf
            requests: list[int] = []
            for run in range(REPEATS):
                clock.set(START + timedelta(minutes=10 * (run + 1)))
                before = len(world.requests)
                started = time.perf_counter()
                body = await take_snapshots(ctx)
                best = min(best, time.perf_counter() - started)
                requests.append(len(world.requests) - before)
                assert body["snapshots_taken"] == COHORTS * AGENTS, body
                assert body["positions_updated"] == COHORTS * AGENTS * POSITIONS, body
            async with ctx.db.read() as session:
                rows = await session.scalar(select(func.count()).select_from(PortfolioSnapshot))
            assert rows == COHORTS * AGENTS * REPEATS
    goal = math.ceil(tokens / BATCH)
    print(
        f"{COHORTS} cohorts x {AGENTS} agents x {POSITIONS} positions over {tokens} tokens "
        f"({COHORTS * AGENTS} snapshots, {COHORTS * AGENTS * POSITIONS} positions marked)"
    )
    print(f"take-snapshots wall time: {best * 1000:.1f} ms (best of {REPEATS} runs)")
    print(
        f"upstream requests per run: {max(requests)} "
        f"(goal ceil({tokens} / {BATCH}) = {goal}): {'met' if max(requests) <= goal else 'MISSED'}"
    )
    print(f"(load average {os.getloadavg()[0]:.2f})")
    return 0 if max(requests) <= goal else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
