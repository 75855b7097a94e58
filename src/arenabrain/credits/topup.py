"""The key top-up rule: what a holder can still spend grows by exactly the allocation.

An OpenRouter key's `limit` is a spending cap, not a balance (upstream-apis §0 #6):
`limit_remaining = limit − usage`, where `usage` is counted over the key's `limit_reset`
window. Replacing the limit with the allocation (the anchor's behaviour) silently shrinks what
a partly-used key can still spend; this module never lowers a limit.

Let `u` be the usage the window counts and `remaining = max(0, limit − u)`:

- **null** (no reset): the limit caps lifetime spending and `u` is the lifetime `usage`.
- **daily / weekly / monthly**: the limit caps spending per window (00:00 UTC; weeks run Monday
  to Sunday) and `u` is `usage_daily` / `usage_weekly` / `usage_monthly`.

In every case the new limit is `max(limit, u) + allocation`, so within the current window the
remaining spend becomes `remaining + allocation`: exactly the allocation more, never less
(when usage overran the limit, the overrun is not charged against the allocation).

With a reset, OpenRouter restores `remaining` to the full limit at each window boundary, so
the limit is a recurring per-window budget; the credit pool re-reads every key's live
`limit_remaining` before each run, so re-opened headroom is counted as promised on the next run.

Caps. A key may not be taken past the per-key cap (MAX_KEY_LIMIT_USD, or the strategy's lower
key limit). The allocation step asks `room_cents` how much more a holder may receive:
- null: the cap bounds unspent credit, `room = cap − remaining`;
- with a reset: the cap bounds the per-window budget, `room = cap − max(limit, u)`.
A key with no limit at all is not ours to budget: its room is 0, so it is never touched.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_FLOOR, Decimal

from arenabrain.clients.openrouter.keys import OpenRouterKey

LIMIT_RESETS = ("daily", "weekly", "monthly")
CENT = Decimal("0.01")


@dataclass(frozen=True)
class KeyBudget:
    """The parts of an OpenRouter key the top-up rule reads."""

    limit: Decimal | None
    limit_reset: str | None
    usage: Decimal = Decimal(0)
    usage_daily: Decimal = Decimal(0)
    usage_weekly: Decimal = Decimal(0)
    usage_monthly: Decimal = Decimal(0)

    @classmethod
    def of(cls, key: OpenRouterKey) -> KeyBudget:
        return cls(
            limit=key.limit,
            limit_reset=key.limit_reset,
            usage=key.usage,
            usage_daily=key.usage_daily,
            usage_weekly=key.usage_weekly,
            usage_monthly=key.usage_monthly,
        )


def window_usage(budget: KeyBudget) -> Decimal:
    """The usage the key's limit is compared with (lifetime, or the current window's)."""
    reset = budget.limit_reset
    if reset is None:
        return budget.usage
    if reset not in LIMIT_RESETS:
        raise ValueError(f"unknown limit_reset {reset!r}")
    return {
        "daily": budget.usage_daily,
        "weekly": budget.usage_weekly,
        "monthly": budget.usage_monthly,
    }[reset]


def remaining(budget: KeyBudget) -> Decimal | None:
    """What the holder can still spend in the current window (None: unlimited)."""
    if budget.limit is None:
        return None
    return max(Decimal(0), budget.limit - window_usage(budget))


def topped_up_limit(budget: KeyBudget, allocation: Decimal) -> Decimal:
    """The limit that gives the holder exactly `allocation` more to spend."""
    if allocation < 0:
        raise ValueError("allocation must not be negative")
    if budget.limit is None:
        raise ValueError("a key without a limit cannot be topped up")
    return max(budget.limit, window_usage(budget)) + allocation


def room_cents(budget: KeyBudget, cap_cents: int) -> int:
    """How many cents this key may still receive without passing the per-key cap."""
    if budget.limit is None:
        return 0
    cap = Decimal(cap_cents) / 100
    if budget.limit_reset is None:
        used = remaining(budget) or Decimal(0)
    else:
        used = max(budget.limit, window_usage(budget))
    room = cap - used
    if room <= 0:
        return 0
    return int((room / CENT).to_integral_value(rounding=ROUND_FLOOR))


def cents_to_usd(cents: int) -> Decimal:
    return (Decimal(cents) / 100).quantize(CENT)


def usd_to_cents(amount: Decimal) -> int:
    """Whole cents, rounded down (never promise a fraction of a cent that is not there)."""
    return int((amount / CENT).to_integral_value(rounding=ROUND_FLOOR))
