"""The top-up rule: what a holder can still spend grows by exactly the allocation."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from arenabrain.credits.topup import (
    KeyBudget,
    remaining,
    room_cents,
    topped_up_limit,
    usd_to_cents,
    window_usage,
)

D = Decimal

TOPUP_CASES = [
    # (id, budget, allocation, new limit)
    ("never-reset-partly-used", KeyBudget(D(10), None, usage=D(8)), D(10), D(20)),
    ("never-reset-unused", KeyBudget(D(10), None, usage=D(0)), D(5), D(15)),
    # Usage overran the limit: the overrun is not charged against the allocation.
    ("never-reset-overrun", KeyBudget(D(10), None, usage=D("10.40")), D(5), D("15.40")),
    ("daily", KeyBudget(D(10), "daily", usage=D(90), usage_daily=D(4)), D(3), D(13)),
    ("weekly", KeyBudget(D(10), "weekly", usage=D(90), usage_weekly=D(9)), D(1), D(11)),
    ("monthly", KeyBudget(D(10), "monthly", usage=D(90), usage_monthly=D(2.5)), D(7), D(17)),
    ("monthly-overrun", KeyBudget(D(10), "monthly", usage_monthly=D(12)), D(1), D(13)),
]


@pytest.mark.parametrize(
    ("budget", "allocation", "expected"),
    [c[1:] for c in TOPUP_CASES],
    ids=[c[0] for c in TOPUP_CASES],
)
def test_topped_up_limit(budget: KeyBudget, allocation: Decimal, expected: Decimal) -> None:
    new_limit = topped_up_limit(budget, allocation)
    assert new_limit == expected
    after = KeyBudget(
        new_limit,
        budget.limit_reset,
        budget.usage,
        budget.usage_daily,
        budget.usage_weekly,
        budget.usage_monthly,
    )
    assert remaining(after) == remaining(budget) + allocation


def test_the_window_decides_which_usage_counts() -> None:
    budget = KeyBudget(
        D(10), None, usage=D(1), usage_daily=D(2), usage_weekly=D(3), usage_monthly=D(4)
    )
    assert [
        window_usage(KeyBudget(D(10), r, D(1), D(2), D(3), D(4)))
        for r in (None, "daily", "weekly", "monthly")
    ] == [D(1), D(2), D(3), D(4)]
    assert window_usage(budget) == D(1)
    with pytest.raises(ValueError):
        window_usage(KeyBudget(D(1), "yearly"))


ROOM_CASES = [
    # No reset: the cap bounds unspent credit (limit 10, used 8 → $2 unspent → $98 room of $100).
    ("never-reset", KeyBudget(D(10), None, usage=D(8)), 10000, 9800),
    # With a reset the cap bounds the per-window budget.
    ("monthly", KeyBudget(D(10), "monthly", usage_monthly=D(8)), 10000, 9000),
    ("monthly-overrun", KeyBudget(D(10), "monthly", usage_monthly=D(12)), 10000, 8800),
    ("already-at-cap", KeyBudget(D(100), "monthly"), 10000, 0),
    ("past-cap", KeyBudget(D(150), None), 10000, 0),
    ("unlimited-key", KeyBudget(None, None), 10000, 0),
    ("fraction-of-a-cent", KeyBudget(D("9.995"), "daily"), 1000, 0),
]


@pytest.mark.parametrize(
    ("budget", "cap", "expected"), [c[1:] for c in ROOM_CASES], ids=[c[0] for c in ROOM_CASES]
)
def test_room_cents(budget: KeyBudget, cap: int, expected: int) -> None:
    assert room_cents(budget, cap) == expected


def test_bad_top_ups_are_rejected() -> None:
    with pytest.raises(ValueError):
        topped_up_limit(KeyBudget(D(1), None), D(-1))
    with pytest.raises(ValueError):
        topped_up_limit(KeyBudget(None, None), D(1))


def test_usd_to_cents_rounds_down() -> None:
    assert usd_to_cents(D("12.349")) == 1234
    assert usd_to_cents(D("0.009")) == 0


money = st.decimals(min_value=0, max_value=10**6, places=6, allow_nan=False, allow_infinity=False)


@settings(max_examples=300, deadline=None)
@given(
    limit=money,
    reset=st.sampled_from([None, "daily", "weekly", "monthly"]),
    usages=st.tuples(money, money, money, money),
    cents=st.integers(min_value=0, max_value=10**8),
    cap=st.integers(min_value=100, max_value=10**6),
)
def test_top_up_grows_remaining_by_exactly_the_allocation_and_never_lowers_the_limit(
    limit, reset, usages, cents, cap
) -> None:
    budget = KeyBudget(limit, reset, *usages)
    allocation = D(cents) / 100
    new_limit = topped_up_limit(budget, allocation)
    after = KeyBudget(new_limit, reset, *usages)
    assert new_limit >= limit
    assert remaining(after) == remaining(budget) + allocation
    # Giving a key its room never takes it past the cap.
    room = room_cents(budget, cap)
    capped = KeyBudget(topped_up_limit(budget, D(room) / 100), reset, *usages)
    bound = remaining(capped) if reset is None else max(capped.limit, window_usage(capped))
    assert room == 0 or bound <= D(cap) / 100
