"""What a decision prompt lists comes in an order of the upstream's terms, never of the
service's row ids (random: `new_id`), so the same state always reads as the same prompt: the
markets of equal volume by Polymarket id, positions opened together by market and side."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import insert, update
from tests.arena.decisions.support import add_market, seed_cohort

from arenabrain.arena.decisions.loading import portfolio, top_markets
from arenabrain.arena.models import Market, Position
from arenabrain.context import Context

# Row ids in one order, Polymarket ids in the other.
ROWS = {"row-a": "pm-3", "row-b": "pm-1", "row-c": "pm-2"}


async def markets_with_crossed_ids(ctx: Context) -> None:
    for row in ROWS:
        await add_market(ctx, row, volume=500.0, question=f"Question {ROWS[row]}?")
    async with ctx.db.write() as session:
        for row, polymarket_id in ROWS.items():
            await session.execute(
                update(Market).where(Market.id == row).values(polymarket_id=polymarket_id)
            )


async def test_markets_of_equal_volume_are_shown_in_polymarket_id_order(ctx: Context) -> None:
    await markets_with_crossed_ids(ctx)
    async with ctx.db.read() as session:
        shown = await top_markets(session, 10)
    assert [m.polymarket_id for m in shown] == ["pm-1", "pm-2", "pm-3"]


async def test_positions_opened_together_are_shown_by_market_and_side(ctx: Context) -> None:
    await markets_with_crossed_ids(ctx)
    cohort = await seed_cohort(ctx)
    agent = cohort.agent_ids[0]
    opened = datetime(2026, 3, 1, 0, 5, tzinfo=UTC)
    async with ctx.db.write() as session:
        for number, (row, side) in enumerate(
            [("row-a", "YES"), ("row-b", "NO"), ("row-c", "YES"), ("row-b", "YES")]
        ):
            await session.execute(
                insert(Position).values(
                    id=f"position-{9 - number}",  # row ids in yet another order
                    agent_id=agent,
                    market_id=row,
                    side=side,
                    shares=10.0,
                    avg_entry_price=0.5,
                    total_cost=5.0,
                    current_value=5.0,
                    status="open",
                    opened_at=opened,
                )
            )
    async with ctx.db.read() as session:
        _, lines = await portfolio(session, agent)
    assert [(line.question, line.side) for line in lines] == [
        ("Question pm-1?", "NO"),
        ("Question pm-1?", "YES"),
        ("Question pm-2?", "YES"),
        ("Question pm-3?", "YES"),
    ]
