"""The informed world's markets end in every way the real resolution job handles: run the
real sync and check-resolutions jobs day by day until every market has ended, then compare
what the arena decided with each market's hidden fate."""

from __future__ import annotations

import json
from collections import Counter
from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from arenabrain.arena import markets
from arenabrain.arena.models import Market, SystemLog
from arenabrain.arena.resolution import check_resolutions
from arenabrain.clock import FrozenClock
from arenabrain.context import Context
from arenabrain.sandbox import Sandbox
from arenabrain.sandbox.polymarket import configure_markets

START = datetime(2026, 3, 1, tzinfo=UTC)
GRACE = timedelta(days=14)


async def logged(ctx: Context, event_type: str) -> list[dict[str, object]]:
    async with ctx.db.read() as session:
        rows = await session.scalars(select(SystemLog).where(SystemLog.event_type == event_type))
        return [json.loads(row.event_data or "{}") for row in rows]


async def test_markets_resolve_in_every_way_the_resolution_job_handles(
    ctx: Context, sandbox: Sandbox, clock: FrozenClock
) -> None:
    clock.set(START)
    state = configure_markets(
        sandbox.world,
        160,
        event_share=0.15,
        multi_share=0.3,
        informed=True,
        horizon_days=21,
        missing_books=0.03,
    )
    await markets.sync_markets(ctx)
    day = START
    while day < START + timedelta(days=21) + GRACE + timedelta(days=7):
        day += timedelta(days=1)
        clock.set(day)
        await markets.sync_markets(ctx)
        await check_resolutions(ctx)

    async with ctx.db.read() as session:
        rows = (
            await session.execute(
                select(Market.polymarket_id, Market.status, Market.resolution_outcome)
            )
        ).all()
    ended = {pid: (status, outcome) for pid, status, outcome in rows}
    sims = state.markets
    # Every market the arena holds whose end (and grace) the days passed is resolved; the
    # long-dated ones are still open.
    over = {pid for pid in ended if sims[pid].end_date < day - GRACE - timedelta(days=2)}
    assert any(ended[pid][0] == "active" for pid in set(ended) - over)
    assert over and all(ended[pid][0] == "resolved" for pid in over), [
        (pid, ended[pid], sims[pid].fate) for pid in over if ended[pid][0] != "resolved"
    ]

    kinds: Counter[str] = Counter()
    for pid in over:
        sim, outcome = sims[pid], ended[pid][1]
        if sim.fate in ("winner", "tokens"):
            # Decided: the arena's winner is the hidden outcome (upper-cased, as stored).
            assert outcome == str(sim.fate_winner).upper(), (pid, sim.fate, outcome)
            yes_no = sorted(sim.outcomes) == ["No", "Yes"]
            kinds[f"{outcome if yes_no else 'MULTI'} by {sim.fate}"] += 1
        else:
            # Split (50/50 or cancelled), flagged without a winner, stalled or delisted: refunded.
            assert outcome == "CANCELLED", (pid, sim.fate, outcome)
            kinds[f"CANCELLED by {sim.fate}"] += 1
    for kind in (
        "YES by winner",
        "NO by winner",
        "MULTI by winner",
        "CANCELLED by split",
        "CANCELLED by flagged",
        "CANCELLED by stalled",
        "CANCELLED by delisted",
    ):
        assert kinds[kind] > 0, (kind, kinds)
    assert kinds["YES by tokens"] + kinds["NO by tokens"] + kinds["MULTI by tokens"] > 0, kinds

    reasons = Counter(str(e["reason"]) for e in await logged(ctx, "market_cancelled"))
    assert any("50/50" in r for r in reasons), reasons
    assert any("no longer lists" in r for r in reasons), reasons
    assert any("No winner 14 days after" in r for r in reasons), reasons
    # A market flagged resolved without a winner is first deferred, and said so.
    unknown = {str(e["polymarket_id"]) for e in await logged(ctx, "resolution_unknown_winner")}
    assert unknown and all(sims[pid].fate == "flagged" for pid in unknown)
