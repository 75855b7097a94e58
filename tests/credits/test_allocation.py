"""Allocation math: every mode with worked examples, ties, edges, caps, and properties."""

from __future__ import annotations

import random
from dataclasses import dataclass
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from arenabrain.credits.allocation import (
    DistributionMode,
    Holder,
    allocate,
    split_cents,
    sum_by_owner,
)

M = DistributionMode
ABC = [Holder("A", 500), Holder("B", 300), Holder("C", 200)]


def cents(plan) -> dict[str, int]:
    return {a.wallet: a.cents for a in plan.allocations}


@dataclass(frozen=True)
class Case:
    id: str
    mode: M
    holders: list[Holder]
    amount: int
    expected: dict[str, int]
    kwargs: dict
    undistributed: int = 0


CASES = [
    # Reference §7.2 holders A=500, B=300, C=200 and $300, with the intended cent math.
    Case(
        "top-n-worked",
        M.TOP_N_HOLDERS,
        ABC,
        30000,
        {"A": 15000, "B": 9000, "C": 6000},
        {"top_n": 5},
    ),
    Case(
        "weighted-worked",
        M.WEIGHTED_BY_HOLDINGS,
        ABC,
        30000,
        {"A": 15000, "B": 9000, "C": 6000},
        {},
    ),
    Case("equal-worked", M.EQUAL_SPLIT, ABC, 30000, {"A": 10000, "B": 10000, "C": 10000}, {}),
    Case("owner-is-holder", M.OWNER_ONLY, ABC, 30000, {"B": 30000}, {"owner_wallet": "B"}),
    Case("owner-not-holder", M.OWNER_ONLY, ABC, 30000, {"Z": 30000}, {"owner_wallet": "Z"}),
    Case("owner-no-holders", M.OWNER_ONLY, [], 500, {"Z": 500}, {"owner_wallet": "Z"}),
    # The anchor floored this to 187 + 112 = 299 dollars; cents are exact.
    Case(
        "exclusion-top-n",
        M.TOP_N_HOLDERS,
        ABC,
        30000,
        {"A": 18750, "B": 11250},
        {"exclusions": ["C"]},
    ),
    # $100 over three equal holders: the one leftover cent goes to the first wallet.
    Case(
        "equal-thirds",
        M.EQUAL_SPLIT,
        [Holder("C", 1), Holder("B", 1), Holder("A", 1)],
        10000,
        {"A": 3334, "B": 3333, "C": 3333},
        {},
    ),
    Case(
        "top-n-equal-balances",
        M.TOP_N_HOLDERS,
        [Holder("B", 7), Holder("A", 7), Holder("C", 7)],
        10000,
        {"A": 3334, "B": 3333, "C": 3333},
        {"top_n": 3},
    ),
    # Ties at the top-N boundary: wallet order decides who is in.
    Case(
        "top-n-boundary-tie",
        M.TOP_N_HOLDERS,
        [Holder("C", 100), Holder("B", 100), Holder("A", 100)],
        1000,
        {"A": 500, "B": 500},
        {"top_n": 2},
    ),
    Case("one-holder", M.WEIGHTED_BY_HOLDINGS, [Holder("A", 42)], 12345, {"A": 12345}, {}),
    Case("no-holders", M.TOP_N_HOLDERS, [], 12345, {}, {}, undistributed=12345),
    Case(
        "all-excluded",
        M.EQUAL_SPLIT,
        ABC,
        900,
        {},
        {"exclusions": ["A", "B", "C"]},
        undistributed=900,
    ),
    Case(
        "owner-excluded",
        M.OWNER_ONLY,
        ABC,
        900,
        {},
        {"owner_wallet": "A", "exclusions": ["A"]},
        undistributed=900,
    ),
    # Dust: 2 cents over 3 holders; the zero allocation is dropped.
    Case("dust", M.EQUAL_SPLIT, ABC, 2, {"A": 1, "B": 1}, {}),
    Case("zero-amount", M.EQUAL_SPLIT, ABC, 0, {}, {}),
    # $10 over 200 equal holders: 5 cents each (the anchor gave 200 keys of $0).
    Case(
        "many-small",
        M.TOP_N_HOLDERS,
        [Holder(f"W{i:03d}", 1) for i in range(200)],
        1000,
        {f"W{i:03d}": 5 for i in range(200)},
        {"top_n": 200},
    ),
    # Per-key cap with redistribution: A is capped at $120, its excess goes to B and C 3:2.
    Case(
        "cap-redistributes",
        M.TOP_N_HOLDERS,
        ABC,
        30000,
        {"A": 12000, "B": 10800, "C": 7200},
        {"cap_cents": 12000},
    ),
    # Cascading cap: after A is capped, B's new share passes the cap too.
    Case(
        "cap-cascades",
        M.WEIGHTED_BY_HOLDINGS,
        [Holder("A", 600), Holder("B", 300), Holder("C", 100)],
        30000,
        {"A": 11000, "B": 11000, "C": 8000},
        {"cap_cents": 11000},
    ),
    # Everyone at the cap: the excess stays in the pool.
    Case(
        "cap-leaves-excess",
        M.EQUAL_SPLIT,
        ABC,
        30000,
        {"A": 5000, "B": 5000, "C": 5000},
        {"cap_cents": 5000},
        undistributed=15000,
    ),
    Case(
        "owner-capped",
        M.OWNER_ONLY,
        ABC,
        30000,
        {"A": 10000},
        {"owner_wallet": "A", "cap_cents": 10000},
        undistributed=20000,
    ),
    # A holder whose key is already full (room 0) gets nothing; the others share the amount.
    Case(
        "per-wallet-room",
        M.WEIGHTED_BY_HOLDINGS,
        ABC,
        7000,
        {"A": 5000, "C": 2000},
        {"caps": {"B": 0}, "cap_cents": 100000},
    ),
    Case(
        "custom-list",
        M.CUSTOM_LIST,
        ABC,
        10000,
        {"X": 2500, "A": 7500},
        {"custom_weights": {"X": 1, "A": 3}},
    ),
    Case(
        "custom-list-excluded",
        M.CUSTOM_LIST,
        ABC,
        10000,
        {"X": 10000},
        {"custom_weights": {"X": 1, "A": 3}, "exclusions": ["A"]},
    ),
    Case(
        "custom-list-empty",
        M.CUSTOM_LIST,
        ABC,
        10000,
        {},
        {"custom_weights": {}},
        undistributed=10000,
    ),
    # Addresses are case-sensitive: excluding one spelling keeps the other.
    Case(
        "case-sensitive",
        M.EQUAL_SPLIT,
        [Holder("AbC", 1), Holder("abc", 1)],
        100,
        {"AbC": 100},
        {"exclusions": ["abc"]},
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_allocation_cases(case: Case) -> None:
    plan = allocate(case.mode, case.holders, case.amount, **case.kwargs)
    assert cents(plan) == case.expected
    assert plan.undistributed_cents == case.undistributed
    assert plan.allocated_cents + plan.undistributed_cents == case.amount


def test_holders_are_summed_exactly_per_owner_case_sensitively() -> None:
    summed = sum_by_owner([("A", 5), ("a", 1), ("A", 7), ("B", 0), ("C", 2**70)])
    assert summed == [Holder("C", 2**70), Holder("A", 12), Holder("a", 1)]


def test_duplicate_accounts_count_once_per_owner_in_allocation() -> None:
    plan = allocate(
        M.WEIGHTED_BY_HOLDINGS, [Holder("A", 100), Holder("B", 200), Holder("A", 100)], 400
    )
    assert cents(plan) == {"A": 200, "B": 200}


def test_top_n_takes_the_n_largest_after_exclusions() -> None:
    holders = [Holder("A", 50), Holder("B", 40), Holder("C", 30), Holder("D", 20)]
    plan = allocate(M.TOP_N_HOLDERS, holders, 900, top_n=2, exclusions=["A"])
    assert cents(plan) == {"B": 514, "C": 386}
    assert plan.excluded == ("A",)
    assert plan.recipients == 2


def test_weights_are_shares_of_the_recipients() -> None:
    plan = allocate(M.TOP_N_HOLDERS, ABC, 1000)
    assert {a.wallet: a.weight for a in plan.allocations} == {
        "A": Fraction(1, 2),
        "B": Fraction(3, 10),
        "C": Fraction(1, 5),
    }


def test_allocations_are_ordered_largest_first_then_wallet() -> None:
    plan = allocate(M.EQUAL_SPLIT, [Holder("Z", 1), Holder("Y", 1), Holder("X", 1)], 4)
    assert [(a.wallet, a.cents) for a in plan.allocations] == [("X", 2), ("Y", 1), ("Z", 1)]


def test_capped_allocations_are_marked() -> None:
    plan = allocate(M.TOP_N_HOLDERS, ABC, 30000, cap_cents=12000)
    assert {a.wallet for a in plan.allocations if a.capped} == {"A"}


def test_bad_inputs_are_rejected() -> None:
    with pytest.raises(ValueError):
        allocate(M.EQUAL_SPLIT, ABC, -1)
    with pytest.raises(ValueError):
        allocate(M.TOP_N_HOLDERS, ABC, 1, top_n=0)
    with pytest.raises(ValueError):
        allocate(M.CUSTOM_LIST, ABC, 1, custom_weights={"A": -1})
    with pytest.raises(ValueError):
        allocate("NOT_A_MODE", ABC, 1)
    with pytest.raises(ValueError):
        sum_by_owner([("A", -1)])


def test_split_cents_largest_remainder() -> None:
    result, undistributed, capped = split_cents(10, [("a", 1), ("b", 1), ("c", 1)])
    assert result == {"a": 4, "b": 3, "c": 3}
    assert (undistributed, capped) == (0, set())


# --- properties --------------------------------------------------------------------------

wallets = st.sampled_from(["A", "a", "B", "b", "C", "D", "E", "F", "G", "H"])
holder_lists = st.lists(
    st.builds(Holder, wallets, st.integers(min_value=0, max_value=10**12)), max_size=25
)


@settings(max_examples=300, deadline=None)
@given(
    mode=st.sampled_from(list(M)),
    holders=holder_lists,
    amount=st.integers(min_value=0, max_value=10**9),
    cap=st.none() | st.integers(min_value=0, max_value=10**6),
    top_n=st.integers(min_value=1, max_value=12),
    exclusions=st.lists(wallets, max_size=3),
    custom=st.dictionaries(wallets, st.integers(min_value=0, max_value=1000), max_size=6),
    room=st.dictionaries(wallets, st.integers(min_value=0, max_value=10**5), max_size=3),
    seed=st.integers(),
)
def test_allocations_never_exceed_and_always_account_for_the_amount(
    mode, holders, amount, cap, top_n, exclusions, custom, room, seed
) -> None:
    kwargs = dict(
        owner_wallet="A",
        top_n=top_n,
        cap_cents=cap,
        caps=room,
        custom_weights=custom,
        exclusions=exclusions,
    )
    plan = allocate(mode, holders, amount, **kwargs)
    # Every cent is either allocated or reported as undistributed; never more than the amount.
    assert plan.allocated_cents + plan.undistributed_cents == amount
    assert 0 <= plan.undistributed_cents <= amount
    assert all(a.cents > 0 for a in plan.allocations)
    assert len({a.wallet for a in plan.allocations}) == len(plan.allocations)
    assert not {a.wallet for a in plan.allocations} & set(exclusions)
    for a in plan.allocations:
        limit = room.get(a.wallet, cap)
        if limit is not None:
            assert a.cents <= limit
    # An excess is left only when no recipient had room for more.
    if plan.undistributed_cents and plan.allocations:
        assert all(a.capped for a in plan.allocations)
    # Without caps, a selected recipient set takes the whole amount.
    if cap is None and not room and plan.recipients and amount:
        assert plan.allocated_cents == amount
    # Order of the input never changes the plan.
    shuffled = list(holders)
    random.Random(seed).shuffle(shuffled)
    assert allocate(mode, shuffled, amount, **kwargs) == plan


@settings(max_examples=200, deadline=None)
@given(
    balances=st.lists(st.integers(min_value=1, max_value=10**15), min_size=1, max_size=30),
    amount=st.integers(min_value=0, max_value=10**10),
)
def test_uncapped_shares_are_within_one_cent_of_exact(balances, amount) -> None:
    holders = [Holder(f"W{i:02d}", b) for i, b in enumerate(balances)]
    plan = allocate(M.WEIGHTED_BY_HOLDINGS, holders, amount)
    total = sum(balances)
    got = cents(plan)
    for h in holders:
        exact = Fraction(amount * h.balance, total)
        assert abs(got.get(h.wallet, 0) - exact) < 1
