"""Which markets a decision run offers the models, and how: every market shown can be traded
(its sides have CLOB tokens), and a multi-outcome market is shown with its outcomes even when
no prices are stored for it."""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal

from sqlalchemy import update
from tests.arena.decisions.support import add_market

from arenabrain.arena.decisions import loading, prompts
from arenabrain.arena.models import Market
from arenabrain.context import Context


async def offered(ctx: Context) -> list[Market]:
    async with ctx.db.read() as session:
        return await loading.top_markets(session, 500)


async def test_multi_outcome_market_without_prices_is_shown_with_its_outcomes(
    ctx: Context,
) -> None:
    await add_market(ctx, "multi", outcomes=["Alice", "Bob", "Carol"], prices=None)
    [market] = await offered(ctx)
    line = loading.market_line(market)
    assert not line.is_binary
    text = prompts.user_prompt(
        prompts.PromptInput(date(2026, 3, 1), 1, Decimal(10000), (), (line,))
    )
    block = text[text.index("- ID: multi") :]
    assert "  Type: several outcomes" in block
    assert '  Outcomes: ["Alice", "Bob", "Carol"]' in block
    assert "  Prices: unknown" in block
    assert "yes/no" not in block


async def test_markets_the_agent_cannot_trade_are_never_offered(ctx: Context) -> None:
    await add_market(ctx, "tradeable", volume=10.0)
    await add_market(ctx, "multi", outcomes=["A", "B"], prices={"A": 0.4, "B": 0.6}, volume=9.0)
    for name in ("no-tokens", "no-outcomes", "short-tokens", "multi-no-tokens"):
        multi = name != "no-tokens"
        await add_market(ctx, name, outcomes=["X", "Y"] if multi else None, volume=100.0)
    async with ctx.db.write() as session:
        for name, values in {
            "no-tokens": {"clob_token_ids": None},
            "multi-no-tokens": {"clob_token_ids": None},
            "no-outcomes": {"outcomes": None},
            "short-tokens": {"clob_token_ids": json.dumps(["short-tokens-0"])},
        }.items():
            await session.execute(update(Market).where(Market.id == name).values(**values))
    assert [m.id for m in await offered(ctx)] == ["tradeable", "multi"]
