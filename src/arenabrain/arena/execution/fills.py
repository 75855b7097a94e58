"""The fill math of paper trading (§7): money as `Decimal`, a position after a buy or a sell,
and the bankruptcy rule (prices per market side come from `arena.pricing`). Pure: no I/O, no
clock."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

ZERO = Decimal(0)
ONE = Decimal(1)
HUNDRED = Decimal(100)

SidePrices = Mapping[tuple[str, str], Decimal | None]


def dec(value: float | int | Decimal | None) -> Decimal:
    """A stored REAL as the Decimal it was written from (None counts as zero)."""
    if value is None:
        return ZERO
    if isinstance(value, Decimal):
        return value
    return Decimal(repr(value)) if isinstance(value, float) else Decimal(value)


def fixed2(value: Decimal) -> str:
    """Two decimals, half up, as the anchor's messages show amounts."""
    return str(value.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP))


def agent_status(cash: Decimal, invested: Decimal) -> str:
    """Bankrupt when there is neither cash nor anything invested left (§7.6)."""
    return "bankrupt" if cash <= 0 and invested <= 0 else "active"


@dataclass(frozen=True)
class Holding:
    """The money columns of one open position."""

    shares: Decimal
    total_cost: Decimal
    current_value: Decimal | None

    @property
    def avg_entry_price(self) -> Decimal:
        return self.total_cost / self.shares if self.shares > 0 else ZERO


def buy_into(holding: Holding | None, amount: Decimal, price: Decimal) -> tuple[Decimal, Holding]:
    """Shares bought for `amount` at `price`, and the position after the fill (§7.4)."""
    shares = amount / price
    if holding is None:
        return shares, Holding(shares=shares, total_cost=amount, current_value=amount)
    marked = holding.current_value if holding.current_value is not None else holding.total_cost
    return shares, Holding(
        shares=holding.shares + shares,
        total_cost=holding.total_cost + amount,
        current_value=marked + amount,
    )


@dataclass(frozen=True)
class SellFill:
    shares_sold: Decimal
    proceeds: Decimal
    cost_basis: Decimal
    realized_pnl: Decimal
    remaining: Holding  # shares 0 means the position closes

    @property
    def closes(self) -> bool:
        return self.remaining.shares <= 0


def sell_from(holding: Holding, percentage: Decimal, price: Decimal) -> SellFill:
    """Sell `percentage` of a position at `price` (§7.5): proceeds, cost basis and P/L."""
    sold = holding.shares if percentage >= HUNDRED else holding.shares * percentage / HUNDRED
    proceeds = sold * price
    cost_basis = (
        holding.total_cost if sold >= holding.shares else sold / holding.shares * holding.total_cost
    )
    left_shares = holding.shares - sold
    if left_shares <= 0:
        remaining = Holding(ZERO, ZERO, ZERO)
    else:
        remaining = Holding(left_shares, holding.total_cost - cost_basis, left_shares * price)
    return SellFill(sold, proceeds, cost_basis, proceeds - cost_basis, remaining)


def is_binary(market: Any) -> bool:
    """Every market that is not multi-outcome trades as YES/NO."""
    return bool(market.market_type != "multi_outcome")


def json_list(text: Any) -> list[Any]:
    """A stored JSON array column as a list (empty when missing or not an array)."""
    if isinstance(text, list):
        return text
    if not isinstance(text, str) or not text:
        return []
    try:
        value = json.loads(text)
    except ValueError:
        return []
    return value if isinstance(value, list) else []
