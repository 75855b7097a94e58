"""Builders shared by the decision and execution tests: cohorts with the seeded lineup's agents,
markets written straight into the database, and the chat emulator mounted on the sandbox."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import insert, select

from arenabrain.arena.models import Agent, BenchmarkConfigModel, Cohort, Market, ModelFamily
from arenabrain.arena.seed import DEFAULT_CONFIG_ID
from arenabrain.context import Context
from arenabrain.sandbox import Sandbox
from arenabrain.sandbox.personas import mount_chat, personas_state

SUNDAY = datetime(2026, 3, 1, tzinfo=UTC)


@dataclass(frozen=True)
class SeededCohort:
    id: str
    number: int
    agent_ids: list[str]
    models: dict[str, str]  # agent id -> OpenRouter model id


def chat_ready(sandbox: Sandbox) -> dict[str, object]:
    """Mount the personas on the OpenRouter emulator (idempotent) and return their knobs."""
    mount_chat(sandbox.apps["openrouter"], sandbox.world)  # type: ignore[arg-type]
    return personas_state(sandbox.world)


async def seed_cohort(
    ctx: Context,
    *,
    number: int = 1,
    started_at: datetime = SUNDAY,
    status: str = "active",
    archived: bool = False,
    cash: float = 10000.0,
) -> SeededCohort:
    """A cohort pinned to the default lineup, with one agent per slot."""
    cohort_id = f"cohort-{number}"
    async with ctx.db.write() as session:
        await session.execute(
            insert(Cohort).values(
                id=cohort_id,
                cohort_number=number,
                started_at=started_at,
                status=status,
                methodology_version="v2",
                benchmark_config_id=DEFAULT_CONFIG_ID,
                is_archived=1 if archived else 0,
            )
        )
        slots = (
            await session.execute(
                select(BenchmarkConfigModel, ModelFamily.legacy_model_id)
                .join(ModelFamily, ModelFamily.id == BenchmarkConfigModel.family_id)
                .where(BenchmarkConfigModel.benchmark_config_id == DEFAULT_CONFIG_ID)
                .order_by(BenchmarkConfigModel.slot_order)
            )
        ).all()
        agent_ids = []
        models = {}
        for slot, legacy in slots:
            agent_id = f"{cohort_id}-{slot.family_id}"
            await session.execute(
                insert(Agent).values(
                    id=agent_id,
                    cohort_id=cohort_id,
                    model_id=legacy or slot.family_id,
                    family_id=slot.family_id,
                    release_id=slot.release_id,
                    benchmark_config_model_id=slot.id,
                    cash_balance=cash,
                    total_invested=0.0,
                    status="active",
                )
            )
            agent_ids.append(agent_id)
            models[agent_id] = slot.openrouter_id_snapshot
    return SeededCohort(cohort_id, number, agent_ids, models)


async def add_market(
    ctx: Context,
    market_id: str,
    *,
    yes: float | None = 0.6,
    volume: float = 1000.0,
    status: str = "active",
    outcomes: Sequence[str] | None = None,
    prices: dict[str, float] | None = None,
    close_date: datetime = datetime(2026, 12, 31, tzinfo=UTC),
    question: str | None = None,
) -> None:
    """A market row; binary unless `outcomes` is given. Token ids are `<id>-<index>`."""
    multi = outcomes is not None
    tokens = [f"{market_id}-{i}" for i in range(len(outcomes) if multi else 2)]
    async with ctx.db.write() as session:
        await session.execute(
            insert(Market).values(
                id=market_id,
                polymarket_id=f"pm-{market_id}",
                question=question or f"Will {market_id} happen?",
                category="Politics",
                market_type="multi_outcome" if multi else "binary",
                outcomes=json.dumps(list(outcomes)) if multi else None,
                close_date=close_date,
                status=status,
                current_price=None if multi else yes,
                current_prices=json.dumps(prices) if multi and prices else None,
                clob_token_ids=json.dumps(tokens),
                volume=volume,
            )
        )


async def load_world_markets(ctx: Context, sandbox: Sandbox, count: int = 40) -> list[str]:
    """Write the emulator's top markets into the database (the rows a sync would store), so
    CLOB midpoints of the emulator price them. Returns their ids, highest volume first."""
    from arenabrain.sandbox.polymarket import listed_markets

    now = ctx.clock.now()
    markets = listed_markets(sandbox.world)[:count]
    async with ctx.db.write() as session:
        for sim in markets:
            prices = dict(zip(sim.outcomes, sim.prices_at(now), strict=True))
            labels = [o.lower() for o in sim.outcomes]
            binary = sorted(labels) == ["no", "yes"]
            if binary:
                tokens = [sim.token_ids[labels.index("yes")], sim.token_ids[labels.index("no")]]
            else:
                tokens = list(sim.token_ids)
            yes = (
                next(p for label, p in prices.items() if label.lower() == "yes") if binary else None
            )
            await session.execute(
                insert(Market).values(
                    id=f"mk-{sim.id}",
                    polymarket_id=sim.id,
                    question=sim.question,
                    category=sim.category,
                    market_type="binary" if binary else "multi_outcome",
                    outcomes=None if binary else json.dumps(sim.outcomes),
                    close_date=sim.end_date,
                    status="active",
                    current_price=yes,
                    current_prices=None if binary else json.dumps(prices),
                    clob_token_ids=json.dumps(tokens),
                    volume=sim.volume,
                )
            )
    return [f"mk-{sim.id}" for sim in markets]
