"""The prompts a model sees each decision week (pure: plain values in, text out).

Written in our own words; they carry what the anchor's prompts carry (§6.2 of the reference):
the rules and limits, the agent's cash and positions with their P/L, the decision week, and the
top markets with prices, volume and close dates. Unlike the anchor they also ask, for every bet,
the model's own probability that the market resolves YES (`p_yes`), and they show positions on
closed markets (counted in the portfolio value, marked as not sellable) instead of hiding them.

The layout is line-oriented and stable, so the sandbox personas can read it back."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Decimal

from arenabrain.arena.decisions.parser import MAX_BET_FRACTION, MIN_BET

INITIAL_BALANCE = Decimal("10000")
METHODOLOGY_VERSION = "v2"
RETRY_ECHO_CHARS = 500

EXAMPLE_BET = json.dumps(
    {
        "action": "BET",
        "bets": [
            {"market_id": "<ID from the list>", "side": "YES", "amount": 250.0, "p_yes": 0.62}
        ],
        "reasoning": "<why, in a few sentences>",
    }
)
EXAMPLE_SELL = json.dumps(
    {
        "action": "SELL",
        "sells": [{"position_id": "<ID of your position>", "percentage": 50}],
        "reasoning": "<why>",
    }
)
EXAMPLE_HOLD = json.dumps({"action": "HOLD", "reasoning": "<why>"})


@dataclass(frozen=True)
class MarketLine:
    """One market as the model sees it."""

    id: str
    question: str
    category: str | None
    market_type: str  # "binary" | "multi_outcome"
    close_date: str  # YYYY-MM-DD
    volume: float | None = None
    yes_price: float | None = None  # binary: the YES price, 0..1
    outcomes: tuple[str, ...] = ()
    outcome_prices: Mapping[str, float] | None = None  # multi-outcome: {outcome: price}

    @property
    def is_binary(self) -> bool:
        # A multi-outcome market stays one without stored prices: its outcomes are still the
        # sides a bet must name.
        return self.market_type != "multi_outcome"


@dataclass(frozen=True)
class PositionLine:
    """One open position as the model sees it."""

    id: str
    question: str
    side: str
    shares: float
    avg_entry_price: float
    total_cost: float
    current_value: float | None
    current_price: float | None  # price of the held side now, when known
    sellable: bool  # False while its market is closed and awaiting resolution


@dataclass(frozen=True)
class PromptInput:
    today: date
    decision_week: int
    cash: Decimal
    positions: Sequence[PositionLine]
    markets: Sequence[MarketLine]
    initial_balance: Decimal = INITIAL_BALANCE


def system_prompt(methodology_version: str = METHODOLOGY_VERSION) -> str:
    """The instructions every agent gets, identical for all models."""
    limit = _percent(MAX_BET_FRACTION)
    return f"""\
You are a forecaster taking part in Forecaster Arena ({methodology_version}), a weekly benchmark \
in which language models trade real Polymarket questions with a paper bankroll.

GOAL
Make your paper portfolio worth as much as possible. Every market below is a real question \
with a public price and a settlement rule. When a market resolves, each share of the winning \
side pays $1 and the other shares pay nothing; until then, positions are valued at the market \
price.

HOW TO ANSWER
Reply with a single JSON object in one of these three forms.

To buy (one or more bets):
{EXAMPLE_BET}

To sell some or all of positions you hold:
{EXAMPLE_SELL}

To do nothing this week:
{EXAMPLE_HOLD}

Fields:
- market_id, position_id: copy the ID exactly as it appears below.
- side: "YES" or "NO" for a yes/no market; for a market with several outcomes, the name of the \
outcome exactly as listed.
- amount: the dollars to spend on that bet, as a number (not a string).
- p_yes: your own probability, between 0 and 1, that the market resolves YES (for a market \
with several outcomes: that the outcome you buy wins). Give your honest estimate, not the \
market price.
- percentage: how much of the position to sell, from 1 to 100.

RULES
1. Every bet is at least ${_plain(MIN_BET)}.
2. All the bets in one answer together may use at most {limit} of your current cash; the exact \
dollar figure is shown with your portfolio.
3. You hold at most one position per market and side; buying the same side again adds to it.
4. Positions on closed markets cannot be sold; they settle when the market resolves.
5. Trades fill at the current market price, with no fees.

SCORING
You are ranked by portfolio value: your cash plus the market value of your open positions. \
Once markets resolve, your p_yes forecasts are scored as well (Brier and log score).

Answer with the JSON object only: no Markdown, no code fences, nothing before or after it."""


def user_prompt(data: PromptInput) -> str:
    """This week's situation for one agent: date, week, portfolio, positions, markets."""
    positions_value = sum(
        (
            _dec(p.current_value if p.current_value is not None else p.total_cost)
            for p in data.positions
        ),
        Decimal(0),
    )
    total = data.cash + positions_value
    pnl = total - data.initial_balance
    pnl_pct = pnl / data.initial_balance * 100 if data.initial_balance else Decimal(0)
    lines = [
        f"TODAY: {data.today.isoformat()} (UTC)",
        f"DECISION WEEK: {data.decision_week}",
        "",
        "PORTFOLIO",
        f"- Cash: ${_money(data.cash)}",
        f"- Most you may bet in total this week: ${_money(data.cash * MAX_BET_FRACTION)} "
        f"({_percent(MAX_BET_FRACTION)} of cash, across all bets)",
        f"- Positions value: ${_money(positions_value)}",
        f"- Portfolio value: ${_money(total)}",
        f"- P/L since the start: {_signed_money(pnl)} ({_signed(pnl_pct)}%)",
        "",
    ]
    sellable = [p for p in data.positions if p.sellable]
    waiting = [p for p in data.positions if not p.sellable]
    if not data.positions:
        lines += ["YOUR POSITIONS: none", ""]
    if sellable:
        lines.append("YOUR POSITIONS")
        for position in sellable:
            lines += _position_block(position)
    if waiting:
        lines.append("AWAITING RESOLUTION (market closed; cannot be sold)")
        for position in waiting:
            lines += _position_block(position)
    lines.append(f"MARKETS (top {len(data.markets)} by volume)")
    for market in data.markets:
        lines += _market_block(market)
    lines.append("Your answer, as one JSON object:")
    return "\n".join(lines)


def retry_prompt(original_user_prompt: str, previous_response: str, parse_error: str) -> str:
    """The user prompt again, with the unusable answer and why it could not be used."""
    echo = previous_response[:RETRY_ECHO_CHARS]
    if len(previous_response) > RETRY_ECHO_CHARS:
        echo += "..."
    return (
        f"{original_user_prompt}\n\n---\n"
        "YOUR PREVIOUS ANSWER COULD NOT BE USED\n"
        f"Problem: {parse_error}\n\n"
        f"Your answer was: {echo}\n\n"
        "Answer again with one valid JSON object only: no Markdown, no code fences, "
        "no text before or after it."
    )


def _position_block(position: PositionLine) -> list[str]:
    value = _dec(
        position.current_value if position.current_value is not None else position.total_cost
    )
    pnl = value - _dec(position.total_cost)
    now = _pct(position.current_price) if position.current_price is not None else "unknown"
    return [
        f"- ID: {position.id}",
        f"  Market: {json.dumps(position.question, ensure_ascii=False)}",
        f"  Side: {position.side} | Shares: {_money(_dec(position.shares))}",
        f"  Bought at: {_pct(position.avg_entry_price)} | Now: {now}",
        f"  Cost: ${_money(_dec(position.total_cost))} | Value: ${_money(value)} | "
        f"P/L: {_signed_money(pnl)}",
        "",
    ]


def _market_block(market: MarketLine) -> list[str]:
    lines = [
        f"- ID: {market.id}",
        f"  Question: {json.dumps(market.question, ensure_ascii=False)}",
        f"  Category: {market.category or 'General'}",
    ]
    if market.is_binary:
        yes = market.yes_price
        lines.append("  Type: yes/no")
        if yes is None:
            lines.append("  Price: unknown")
        else:
            lines.append(f"  Price: YES {_pct(yes)} / NO {_pct(1 - yes)}")
    else:
        prices = market.outcome_prices or {}
        outcomes = list(market.outcomes) or list(prices)
        lines.append("  Type: several outcomes")
        lines.append(f"  Outcomes: {json.dumps(outcomes, ensure_ascii=False)}")
        shown = [f"{name} {_pct(prices[name])}" for name in outcomes if name in prices]
        lines.append(f"  Prices: {' / '.join(shown) if shown else 'unknown'}")
    lines.append(f"  Volume: {_volume(market.volume)}")
    lines.append(f"  Closes: {market.close_date}")
    lines.append("")
    return lines


def _dec(value: float | Decimal) -> Decimal:
    return value if isinstance(value, Decimal) else Decimal(repr(float(value)))


def _money(value: Decimal) -> str:
    return str(value.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP))


def _signed_money(value: Decimal) -> str:
    text = _money(abs(value))
    return f"-${text}" if value < 0 and text != "0.00" else f"+${text}"


def _signed(value: Decimal) -> str:
    text = _money(value)
    return text if text.startswith("-") and text != "-0.00" else "+" + text.lstrip("-")


def _pct(price: float | Decimal) -> str:
    scaled = (_dec(price) * 100).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)
    return f"{scaled}%"


def _percent(fraction: Decimal) -> str:
    return f"{_plain(fraction * 100)}%"


def _plain(value: Decimal) -> str:
    text = format(value, "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


def _volume(volume: float | None) -> str:
    if volume is None:
        return "unknown"
    text = f"{volume:,.3f}".rstrip("0").rstrip(".")
    return f"${text}"
