"""ALLOCATING: decide how many cents each holder receives from this run.

1. The run's amount is the USDC it produced (funded, else bridged, else swapped), in cents.
2. Holders: a snapshot of the distribution token's accounts (HoldersPort), summed exactly per
   owner; the burn address, protocol accounts, off-curve owners (PDAs) and the exclusion list
   are removed. OWNER_ONLY and CUSTOM_LIST need no snapshot. Every holder seen is written to
   `holder_snapshots`, with the reason when it was left out.
3. The distributable amount is bounded by the credit pool:
   `min(run amount, credits − usage − reserve − promised)`, where the reserve is the
   strategy's reserve percentage (`--reserve`, defaulting to CREDIT_POOL_RESERVE_PCT) of the
   balance and `promised` is the headroom of live keys plus what other runs allocated and have
   not provisioned yet (pool.py). Zero means PROVISIONING skips every key update. The runner
   holds the credit pool's lock through this phase, so no other run records a plan meanwhile.
4. Each holder's cap is the strategy's key limit (never above MAX_KEY_LIMIT_USD), less what
   the holder's existing key can already spend (see `topup.room_cents`) and less what earlier
   runs of the strategy allocated to the holder and have not provisioned yet.
5. The plan (allocation.py) is written to `allocation_snapshots`, with its total in the
   `credit_pool_allocations` ledger, in the same unit of work as the transition. Until its
   keys are provisioned, those rows are the plan's reservation in the pool.

DRY_RUN: computed and audited (the plan is in the audit details); no allocation or ledger row
is written."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from arenabrain.clients.errors import UpstreamError
from arenabrain.credits import keys, pool, strategies
from arenabrain.credits.allocation import (
    AllocationPlan,
    DistributionMode,
    Holder,
    allocate,
    sum_by_owner,
)
from arenabrain.credits.models import AllocationSnapshot, HolderSnapshot
from arenabrain.credits.phases.base import PhaseContext, PhaseFailure, PhaseOutcome
from arenabrain.credits.topup import KeyBudget, room_cents
from arenabrain.credits.wallets import ineligible_reason
from arenabrain.db.ids import new_id

NO_SNAPSHOT_MODES = (DistributionMode.OWNER_ONLY, DistributionMode.CUSTOM_LIST)


def run_amount_cents(run: Any) -> int:
    """The USDC this run produced, in whole cents (base units have 6 decimals)."""
    for value in (run.funded_usdc_base_units, run.bridged_usdc_base_units):
        if value is not None:
            return int(value) // 10_000
    return int(run.swapped_usdc_base_units or 0) // 10_000


def usd(cents: int) -> str:
    return f"{Decimal(cents) / 100:.2f}"


async def allocating(pc: PhaseContext) -> PhaseOutcome:
    strategy = pc.strategy
    amount = run_amount_cents(pc.run)
    if amount <= 0:
        return PhaseOutcome(
            checkpoint={"allocated_cents": 0},
            details={
                "allocatedUsd": "0.00",
                "holderCount": 0,
                "skipped": True,
                "reason": "No USDC from this run to allocate",
            },
        )
    mode = DistributionMode(strategy.distribution_mode)
    seen: list[Holder] = []
    if mode not in NO_SNAPSHOT_MODES:
        seen = await snapshot(pc)
    ineligible = {h.wallet: r for h in seen if (r := ineligible_reason(h.wallet))}
    custom = strategies.custom_weights_of(strategy)
    if mode is DistributionMode.CUSTOM_LIST:
        ineligible |= {w: r for w in custom if (r := ineligible_reason(w))}
    eligible = [h for h in seen if h.wallet not in ineligible]

    numbers, remote = await pool.read_pool(pc.ctx, Decimal(str(strategy.credit_pool_reserve_pct)))
    distributable = pool.distributable_cents(amount, numbers)
    cap = min(strategy.key_limit_usd_cents, int(pc.ctx.settings.max_key_limit_usd * 100))
    async with pc.ctx.db.read() as session:
        live = await keys.live_keys(session, strategy.strategy_id)
        pending = await pool.pending_by_wallet(session, strategy.strategy_id)
    by_hash = {k.hash: k for k in remote}
    caps = {
        wallet: room_cents(KeyBudget.of(by_hash[key.openrouter_key_hash]), cap)
        for wallet, key in live.items()
        if key.openrouter_key_hash in by_hash
    }
    for wallet, cents in pending.items():
        caps[wallet] = max(0, caps.get(wallet, cap) - cents)
    plan = allocate(
        mode,
        eligible,
        distributable,
        owner_wallet=strategy.owner_wallet,
        top_n=strategy.distribution_top_n,
        cap_cents=cap,
        caps=caps,
        custom_weights={w: v for w, v in custom.items() if w not in ineligible},
        exclusions=strategies.exclusions_of(strategy),
    )
    details: dict[str, Any] = {
        "allocatedUsd": usd(plan.allocated_cents),
        "runAmountUsd": usd(amount),
        "distributableUsd": usd(distributable),
        "undistributedUsd": usd(plan.undistributed_cents),
        "allocationMode": str(mode),
        "holderCount": len(plan.allocations),
        "holdersSeen": len(seen),
        "skippedHolders": len(seen) - len(plan.allocations),
        "excluded": list(plan.excluded),
        "ineligible": dict(sorted(ineligible.items())),
        "perKeyCapUsd": usd(cap),
        "pool": {
            "balanceUsd": usd(numbers.balance_cents),
            "promisedUsd": usd(numbers.promised_cents),
            "pendingUsd": usd(numbers.pending_cents),
            "reservePct": str(numbers.reserve_pct),
            "reservedUsd": usd(numbers.reserved_cents),
            "availableUsd": usd(numbers.available_cents),
        },
    }
    if distributable == 0:
        details["reason"] = (
            "Credit pool has nothing available (credits − usage − reserve − promised "
            "headroom); fund the OpenRouter account. Provisioning skips every key update."
        )
    if pc.dry_run:
        details["dryRun"] = True
        details["allocations"] = [
            {"wallet": a.wallet, "cents": a.cents, "capped": a.capped} for a in plan.allocations
        ]
        return PhaseOutcome(
            checkpoint={"allocated_cents": plan.allocated_cents},
            details=details,
            persist=lambda s: write_holders(s, pc, seen, ineligible, plan),
        )

    async def persist(session: AsyncSession) -> None:
        await write_holders(session, pc, seen, ineligible, plan)
        now = pc.now()
        for a in plan.allocations:
            session.add(
                AllocationSnapshot(
                    snapshot_id=new_id(now),
                    run_id=pc.run_id,
                    holder_wallet=a.wallet,
                    token_balance=str(a.balance),
                    allocation_weight=float(a.weight),
                    allocated_cents=a.cents,
                    created_at=now,
                )
            )
        if plan.allocated_cents:
            await pool.record_allocation(session, pc.run_id, plan.allocated_cents, now)

    return PhaseOutcome(
        checkpoint={"allocated_cents": plan.allocated_cents}, details=details, persist=persist
    )


async def snapshot(pc: PhaseContext) -> list[Holder]:
    token = pc.strategy.distribution_token
    if not token:
        raise PhaseFailure(
            "HOLDER_RESOLUTION_FAILED",
            "The strategy has no distribution token; set distributionToken to the SPL mint "
            "whose holders receive credits",
        )
    holders = pc.clients.holders
    try:
        accounts = await pc.guard.call(
            "helius", lambda: holders.token_accounts(token), what="token accounts"
        )
    except UpstreamError as exc:
        raise PhaseFailure(
            "HOLDER_RESOLUTION_FAILED", f"Failed to resolve holders of {token}: {exc}"
        ) from exc
    return sum_by_owner((a.owner, a.amount) for a in accounts)


async def write_holders(
    session: AsyncSession,
    pc: PhaseContext,
    seen: list[Holder],
    ineligible: dict[str, str],
    plan: AllocationPlan,
) -> None:
    now = pc.now()
    excluded = set(plan.excluded)
    for holder in seen:
        reason = ineligible.get(holder.wallet)
        if reason is None and holder.wallet in excluded:
            reason = "excluded"
        session.add(
            HolderSnapshot(
                id=new_id(now),
                run_id=pc.run_id,
                token_mint=pc.strategy.distribution_token,
                holder_wallet=holder.wallet,
                token_balance=str(holder.balance),
                excluded_reason=reason,
                created_at=now,
            )
        )
