"""What Polymarket's data says about a market the arena holds positions on (reference §8.3), as
one verdict the resolution job acts on. Pure: Gamma's market as parsed, two dates, a grace
period in; a `Verdict` out.

- **winner**: the market is over (Gamma `closed`, or flagged `resolved`) and names one winner:
  a legacy `tokens[].winner` flag, or decisive prices (one outcome at 0.99 or more, every other
  at 0.01 or less). The winner is upper-cased (`YES`, `NO`, `ALICE`), as the anchor stores it;
  multi-outcome markets are matched by label.
- **refund**: the market will never pay a winner, so positions get their cost back: UMA
  resolved it with an equal split (a 50/50, or a cancellation, which UMA voids the same way),
  Polymarket no longer lists it, or it is still undecidable `grace` after its close date.
- **undecided**: flagged resolved, but without a winner yet (deferred; logged as
  `resolution_unknown_winner`).
- **missing**: Gamma does not know the market (404) and the grace period has not passed.
- **pending**: not over yet, or closed and awaiting its resolution."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from arenabrain.clients.polymarket import GammaMarket

DECISIVE_HIGH = 0.99
DECISIVE_LOW = 0.01
# Two prices closer than this are an equal split (Gamma sends "0.5" or "0.5000001").
SPLIT_TOLERANCE = 0.001
CANCELLED = "CANCELLED"

Kind = Literal["pending", "winner", "refund", "undecided", "missing"]


@dataclass(frozen=True)
class Verdict:
    kind: Kind
    winner: str | None = None  # the upper-cased winner, or CANCELLED for a refund
    reason: str = ""


def verdict(
    gamma: GammaMarket | None,
    *,
    polymarket_id: str,
    close_date: datetime,
    now: datetime,
    grace: timedelta,
) -> Verdict:
    """The verdict on one market from Gamma's current data (None when Gamma answered 404)."""
    if gamma is not None and gamma.close_date is not None:
        close_date = max(close_date, gamma.close_date)
    overdue = now >= close_date + grace
    days = grace.days
    if gamma is None:
        if overdue:
            return Verdict(
                "refund", CANCELLED, f"Polymarket no longer lists market {polymarket_id}"
            )
        return Verdict("missing", reason=f"Polymarket market {polymarket_id} not found")
    flagged = bool(gamma.resolved) or (gamma.uma_resolution_status or "").lower() == "resolved"
    if not (gamma.closed or gamma.resolved):
        return Verdict("pending", reason="Market is still open on Polymarket")
    winner = winning_label(gamma)
    if winner is not None:
        return Verdict("winner", winner.upper(), "Polymarket resolved the market")
    if flagged and equal_split(gamma):
        return Verdict("refund", CANCELLED, "Polymarket resolved the market 50/50 (split payout)")
    if overdue:
        return Verdict("refund", CANCELLED, f"No winner {days} days after the market's close date")
    if flagged:
        return Verdict("undecided", reason="Winner could not be determined from market data")
    return Verdict("pending", reason="Closed, awaiting resolution")


def winning_label(gamma: GammaMarket) -> str | None:
    """The outcome label Gamma names as the winner: a `tokens[].winner` flag first, then
    decisive prices; None when neither names exactly one outcome."""
    if gamma.flagged_winner is not None:
        found = gamma.outcome(gamma.flagged_winner)
        return found.label if found is not None else gamma.flagged_winner
    prices = [o.price for o in gamma.outcomes]
    if any(price is None for price in prices):
        return None
    high = [o for o in gamma.outcomes if o.price is not None and o.price >= DECISIVE_HIGH]
    low = [o for o in gamma.outcomes if o.price is not None and o.price <= DECISIVE_LOW]
    if len(high) == 1 and len(high) + len(low) == len(gamma.outcomes):
        return high[0].label
    return None


def equal_split(gamma: GammaMarket) -> bool:
    """Whether every outcome is priced the same (UMA's void / 50-50 payout)."""
    prices = [o.price for o in gamma.outcomes]
    if len(prices) < 2 or any(price is None for price in prices):
        return False
    known = [price for price in prices if price is not None]
    return max(known) - min(known) <= SPLIT_TOLERANCE and 0 < known[0] < 1
