"""The prompt builder: what the model is told, and the retry prompt."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from arenabrain.arena.decisions.prompts import (
    MarketLine,
    PositionLine,
    PromptInput,
    retry_prompt,
    system_prompt,
    user_prompt,
)
from arenabrain.sandbox.personas import read_prompt

BINARY = MarketLine(
    id="m-bin",
    question='Will "X" happen?',
    category=None,
    market_type="binary",
    close_date="2026-06-30",
    volume=1234567.891,
    yes_price=0.625,
)
MULTI = MarketLine(
    id="m-multi",
    question="Who wins?",
    category="Politics",
    market_type="multi_outcome",
    close_date="2026-11-03",
    volume=None,
    outcomes=("Alice", "Bob"),
    outcome_prices={"Alice": 0.55, "Bob": 0.45},
)
NO_PRICE = MarketLine(
    id="m-none", question="Q?", category="Crypto", market_type="binary", close_date="2026-04-01"
)


def prompt_input(**overrides: object) -> PromptInput:
    values: dict[str, object] = {
        "today": date(2026, 3, 1),
        "decision_week": 2,
        "cash": Decimal("9400"),
        "positions": (
            PositionLine(
                id="p-1",
                question="Will X happen?",
                side="NO",
                shares=800.0,
                avg_entry_price=0.75,
                total_cost=600.0,
                current_value=640.0,
                current_price=0.8,
                sellable=True,
            ),
        ),
        "markets": (BINARY, MULTI, NO_PRICE),
    }
    values.update(overrides)
    return PromptInput(**values)  # type: ignore[arg-type]


def test_system_prompt_states_rules_limits_and_p_yes() -> None:
    text = system_prompt()
    assert "Forecaster Arena (v2)" in text
    assert "at least $50" in text
    assert "at most 25% of your current cash" in text
    assert '"p_yes"' in text
    assert "JSON object only" in text


def test_user_prompt_portfolio_figures() -> None:
    text = user_prompt(prompt_input())
    assert "TODAY: 2026-03-01 (UTC)" in text
    assert "DECISION WEEK: 2" in text
    assert "- Cash: $9400.00" in text
    assert "- Most you may bet in total this week: $2350.00" in text
    assert "- Positions value: $640.00" in text
    assert "- Portfolio value: $10040.00" in text
    assert "- P/L since the start: +$40.00 (+0.40%)" in text


def test_user_prompt_position_block() -> None:
    text = user_prompt(prompt_input())
    assert "YOUR POSITIONS\n- ID: p-1\n" in text
    assert "  Side: NO | Shares: 800.00" in text
    assert "  Bought at: 75.0% | Now: 80.0%" in text
    assert "  Cost: $600.00 | Value: $640.00 | P/L: +$40.00" in text


def test_user_prompt_market_blocks() -> None:
    text = user_prompt(prompt_input())
    assert "MARKETS (top 3 by volume)" in text
    assert '  Question: "Will \\"X\\" happen?"' in text
    assert "  Category: General" in text
    assert "  Price: YES 62.5% / NO 37.5%" in text
    assert "  Volume: $1,234,567.891" in text
    assert "  Closes: 2026-06-30" in text
    assert '  Outcomes: ["Alice", "Bob"]' in text
    assert "  Prices: Alice 55.0% / Bob 45.0%" in text
    assert "  Volume: unknown" in text
    assert "  Price: unknown" in text


def test_positions_on_closed_markets_count_but_are_not_sellable() -> None:
    waiting = PositionLine("p-2", "Closed?", "YES", 100.0, 0.5, 50.0, None, None, sellable=False)
    text = user_prompt(prompt_input(positions=(waiting,), cash=Decimal("10000")))
    assert "AWAITING RESOLUTION (market closed; cannot be sold)\n- ID: p-2" in text
    assert "- Portfolio value: $10050.00" in text
    assert "Now: unknown" in text
    assert read_prompt(text).positions == []


def test_no_positions_and_losses_are_signed() -> None:
    text = user_prompt(prompt_input(positions=(), cash=Decimal("9000.5")))
    assert "YOUR POSITIONS: none" in text
    assert "- P/L since the start: -$999.50 (-10.00%)" in text


def test_personas_can_read_the_prompt_back() -> None:
    view = read_prompt(user_prompt(prompt_input()))
    assert view.cash == 9400.0
    assert view.max_total == 2350.0
    assert view.positions == ["p-1"]
    assert [m.id for m in view.markets] == ["m-bin", "m-multi", "m-none"]
    assert view.markets[0].yes_price == 0.625
    assert view.markets[1].outcomes == {"Alice": 0.55, "Bob": 0.45}
    assert view.markets[2].yes_price is None


def test_retry_prompt_echoes_answer_and_error() -> None:
    text = retry_prompt("USER", "x" * 600, "Missing action field")
    assert text.startswith("USER\n\n---\nYOUR PREVIOUS ANSWER COULD NOT BE USED\n")
    assert "Problem: Missing action field" in text
    assert "Your answer was: " + "x" * 500 + "...\n" in text
    assert "x" * 501 not in text
    short = retry_prompt("USER", "oops", "bad")
    assert "Your answer was: oops\n" in short


def test_prompt_is_deterministic() -> None:
    assert user_prompt(prompt_input()) == user_prompt(prompt_input())
