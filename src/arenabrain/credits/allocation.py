"""Allocation math: who gets how many cents of a run's distributable amount.

Pure functions over plain values. Money is integer cents; token balances are integer base
units; shares are exact fractions, so nothing is lost to floats.

Rules (reference §7.3, with the anchor's bugs B12/B13 fixed):

- Holders are summed exactly per owner wallet. Wallets are compared case-sensitively; two
  spellings that differ only in case are two wallets.
- The exclusion list removes exact (case-sensitive) matches before any selection, so TOP_N
  takes the top N of the wallets that remain. The burn address, protocol addresses and
  off-curve owners (PDAs that can never sign to collect a key) are removed by the caller.
- Modes:
  - OWNER_ONLY: everything to the strategy's owner wallet, holder or not (no snapshot needed).
  - TOP_N_HOLDERS: the N largest balances (ties broken by wallet), weighted by balance.
  - WEIGHTED_BY_HOLDINGS: every holder, weighted by balance.
  - EQUAL_SPLIT: every holder, equal weight.
  - CUSTOM_LIST: only the wallets of the strategy's custom list, weighted by their listed
    weight; a listed wallet need not hold the token.
- Cents are split by largest remainder: everyone gets the floor of their exact share, and the
  leftover cents go one each to the largest fractional remainders (ties: larger weight first,
  then wallet ascending). The cents therefore sum exactly to the amount handed out.
- Per-key cap: each recipient may receive at most its cap (MAX_KEY_LIMIT_USD / the strategy's
  key limit, or less when the holder's existing key already has headroom). **The capped excess
  is redistributed** to the uncapped recipients in proportion to their weights (water-filling),
  repeatedly, until nobody is over their cap. Only when every recipient is at its cap does an
  excess remain; it is **left undistributed** (it stays in the credit pool) and reported as
  `undistributed_cents`. So `allocated_cents + undistributed_cents == distributable_cents`
  always, and `undistributed_cents > 0` only when there is no recipient with room left.
- Zero allocations (dust, a zero cap) are dropped: no key is created or touched for 0 cents.
- Determinism: the same inputs give the same plan whatever the input order.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum
from fractions import Fraction

# A per-key cap lookup: wallet -> cap in cents, or None for no cap.
CapLookup = Callable[[str], int | None]


class DistributionMode(StrEnum):
    OWNER_ONLY = "OWNER_ONLY"
    TOP_N_HOLDERS = "TOP_N_HOLDERS"
    EQUAL_SPLIT = "EQUAL_SPLIT"
    WEIGHTED_BY_HOLDINGS = "WEIGHTED_BY_HOLDINGS"
    CUSTOM_LIST = "CUSTOM_LIST"


@dataclass(frozen=True)
class Holder:
    """One owner wallet and its token balance in raw base units."""

    wallet: str
    balance: int


@dataclass(frozen=True)
class Allocation:
    wallet: str
    balance: int  # the wallet's token balance (0 for an owner or listed wallet holding none)
    weight: Fraction  # its share of the total weight of the mode's recipients, 0..1
    cents: int
    capped: bool = False  # True when it received exactly its cap


@dataclass(frozen=True)
class AllocationPlan:
    mode: DistributionMode
    distributable_cents: int
    allocations: tuple[Allocation, ...]  # positive amounts only, largest first, then wallet
    recipients: int  # wallets the mode selected (before zero amounts were dropped)
    excluded: tuple[str, ...]  # wallets removed by the exclusion list
    undistributed_cents: int  # capped excess no recipient could take

    @property
    def allocated_cents(self) -> int:
        return sum(a.cents for a in self.allocations)


def sum_by_owner(accounts: Iterable[tuple[str, int]]) -> list[Holder]:
    """Sum token-account balances exactly per owner (case-sensitive); drop zero balances.

    The result is sorted by balance descending, then wallet ascending."""
    totals: dict[str, int] = {}
    for owner, amount in accounts:
        if amount < 0:
            raise ValueError(f"negative token balance for {owner}")
        totals[owner] = totals.get(owner, 0) + amount
    holders = [Holder(wallet, balance) for wallet, balance in totals.items() if balance > 0]
    return sorted(holders, key=_by_balance)


def allocate(
    mode: DistributionMode | str,
    holders: Iterable[Holder],
    distributable_cents: int,
    *,
    owner_wallet: str = "",
    top_n: int = 100,
    cap_cents: int | None = None,
    caps: Mapping[str, int] | None = None,
    custom_weights: Mapping[str, int | Decimal | Fraction] | None = None,
    exclusions: Collection[str] = (),
) -> AllocationPlan:
    """Split `distributable_cents` among the recipients the mode selects.

    `cap_cents` caps every recipient; `caps` gives individual caps (a holder whose key already
    has headroom) and wins over `cap_cents` for the wallets it names."""
    mode = DistributionMode(mode)
    if distributable_cents < 0:
        raise ValueError("distributable amount must not be negative")
    if top_n < 1:
        raise ValueError("top_n must be at least 1")
    excluded_set = set(exclusions)
    summed = sum_by_owner((h.wallet, h.balance) for h in holders)
    excluded = tuple(sorted(h.wallet for h in summed if h.wallet in excluded_set))
    eligible = [h for h in summed if h.wallet not in excluded_set]
    recipients = _recipients(mode, eligible, owner_wallet, top_n, custom_weights, excluded_set)
    if mode is DistributionMode.OWNER_ONLY and owner_wallet in excluded_set:
        excluded = tuple(sorted({*excluded, owner_wallet}))

    def cap_of(wallet: str) -> int | None:
        if caps is not None and wallet in caps:
            return max(0, caps[wallet])
        return None if cap_cents is None else max(0, cap_cents)

    cents, undistributed, capped = split_cents(
        distributable_cents, [(w, weight) for w, _, weight in recipients], cap_of
    )
    total_weight = sum((weight for _, _, weight in recipients), Fraction(0))
    allocations = [
        Allocation(
            wallet=wallet,
            balance=balance,
            weight=weight / total_weight if total_weight else Fraction(0),
            cents=cents[wallet],
            capped=wallet in capped,
        )
        for wallet, balance, weight in recipients
        if cents[wallet] > 0
    ]
    allocations.sort(key=lambda a: (-a.cents, a.wallet))
    return AllocationPlan(
        mode=mode,
        distributable_cents=distributable_cents,
        allocations=tuple(allocations),
        recipients=len(recipients),
        excluded=excluded,
        undistributed_cents=undistributed,
    )


def split_cents(
    total: int,
    weights: Sequence[tuple[str, Fraction | int]],
    cap_of: CapLookup | None = None,
) -> tuple[dict[str, int], int, set[str]]:
    """Water-filling largest-remainder split of `total` cents over weighted keys.

    Returns (cents per key, undistributed cents, keys held at their cap)."""
    weight = {key: Fraction(w) for key, w in weights}
    if any(w < 0 for w in weight.values()):
        raise ValueError("weights must not be negative")
    cap = {key: (cap_of(key) if cap_of is not None else None) for key in weight}
    result = dict.fromkeys(weight, 0)
    active = {key for key, w in weight.items() if w > 0}
    capped: set[str] = set()
    remaining = total
    while active:
        active_weight = sum((weight[k] for k in active), Fraction(0))
        over = set()
        for key in active:
            limit = cap[key]
            if limit is not None and remaining * weight[key] / active_weight >= limit:
                over.add(key)
        if not over:
            break
        for key in over:
            result[key] = cap[key] or 0
            remaining -= result[key]
        capped |= over
        active -= over
    if not active:
        return result, remaining, capped
    active_weight = sum((weight[k] for k in active), Fraction(0))
    exact = {key: remaining * weight[key] / active_weight for key in active}
    for key, share in exact.items():
        result[key] = share.numerator // share.denominator
    leftover = remaining - sum(result[k] for k in active)
    order = sorted(active, key=lambda k: (-(exact[k] - result[k]), -weight[k], k))
    for key in order[:leftover]:
        result[key] += 1
    return result, 0, capped


def _recipients(
    mode: DistributionMode,
    eligible: list[Holder],
    owner_wallet: str,
    top_n: int,
    custom_weights: Mapping[str, int | Decimal | Fraction] | None,
    excluded: set[str],
) -> list[tuple[str, int, Fraction]]:
    """(wallet, balance, weight) of every recipient the mode selects."""
    if mode is DistributionMode.OWNER_ONLY:
        if not owner_wallet or owner_wallet in excluded:
            return []
        balance = next((h.balance for h in eligible if h.wallet == owner_wallet), 0)
        return [(owner_wallet, balance, Fraction(1))]
    if mode is DistributionMode.TOP_N_HOLDERS:
        return [(h.wallet, h.balance, Fraction(h.balance)) for h in eligible[:top_n]]
    if mode is DistributionMode.WEIGHTED_BY_HOLDINGS:
        return [(h.wallet, h.balance, Fraction(h.balance)) for h in eligible]
    if mode is DistributionMode.EQUAL_SPLIT:
        return [(h.wallet, h.balance, Fraction(1)) for h in eligible]
    balances = {h.wallet: h.balance for h in eligible}
    listed = []
    for wallet, raw in (custom_weights or {}).items():
        weight = Fraction(raw)  # Decimal and int convert exactly
        if weight < 0:
            raise ValueError(f"custom weight for {wallet} must not be negative")
        if weight > 0 and wallet not in excluded:
            listed.append((wallet, balances.get(wallet, 0), weight))
    return sorted(listed, key=lambda r: (-r[2], r[0]))


def _by_balance(holder: Holder) -> tuple[int, str]:
    return (-holder.balance, holder.wallet)
