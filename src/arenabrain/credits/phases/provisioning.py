"""PROVISIONING: give every holder of the plan their credit, one key each.

For each allocation of the run that has no key yet:
- a holder with a live key of this strategy gets a **top-up** (`topup.topped_up_limit`: what
  they can still spend grows by exactly the allocation). The target limit is written to the
  audit log before the PATCH, so a resume after a crash recognises a PATCH that already
  happened instead of adding the allocation twice;
- any other holder gets a **new key**: named with the strategy's stable prefix and a digest
  of (strategy, wallet, run), `limit_reset` as OpenRouter's enum (B10), `expires_at` from the
  strategy's expiry days (0 = never). Before creating, keys already carrying that name are
  looked up: one found was created by a crashed attempt and never recorded; its plaintext is
  lost, so it is deleted and the key created afresh (no duplicate, and the holder can collect
  the new one). The plaintext is stored encrypted with KEY_ENCRYPTION_KEY, next to the hash.
Each holder is recorded as soon as its key is done (the allocation snapshot's `key_hash`), so
a resume continues with the holders still missing. One holder's failure is recorded and the
others continue; only when every holder still to do fails does the phase fail (so it can be
resumed once the upstream is back).

DRY_RUN: the plan is read from the ALLOCATING audit entry; what would be created or topped up
is audited; no key is created or changed."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from arenabrain.credits import audit, keys
from arenabrain.credits.keystore import KeyStore, keystore_for
from arenabrain.credits.locks import LockLost
from arenabrain.credits.models import AllocationSnapshot, UserKey
from arenabrain.credits.phases.base import PhaseContext, PhaseFailure, PhaseOutcome, error_code
from arenabrain.credits.ports import OpenRouterKey
from arenabrain.credits.topup import KeyBudget, topped_up_limit
from arenabrain.db.ids import new_id

CREATED = "provision:create"
TOPPED_UP = "provision:topup"
TOPUP_INTENT = "provision:topup-intent"
FAILED = "provision:failed"
ALLOCATED = "transition:ALLOCATING->PROVISIONING"
SAME_LIMIT = Decimal("0.000001")


async def snapshots_of(session: AsyncSession, run_id: str) -> list[AllocationSnapshot]:
    rows = await session.scalars(
        select(AllocationSnapshot)
        .where(AllocationSnapshot.run_id == run_id, AllocationSnapshot.allocated_cents > 0)
        .order_by(AllocationSnapshot.allocated_cents.desc(), AllocationSnapshot.holder_wallet)
        .execution_options(populate_existing=True)
    )
    return list(rows)


async def provisioning(pc: PhaseContext) -> PhaseOutcome:
    allocated = pc.run.allocated_cents or 0
    if allocated <= 0:
        return PhaseOutcome(
            checkpoint={"keys_provisioned": 0, "keys_updated": 0},
            details={
                "keysProvisioned": 0,
                "keysUpdated": 0,
                "keysFailed": 0,
                "skipped": True,
                "reason": "Nothing was allocated (empty credit pool or no eligible holders); "
                "no key was created or changed",
            },
        )
    if pc.dry_run:
        return await rehearse(pc)
    store = keystore_for(pc.ctx.settings)
    if store is None:
        raise PhaseFailure(
            "DEPENDENCY_NOT_CONFIGURED",
            "KEY_ENCRYPTION_KEY is not set; provisioned keys could not be stored for holders",
        )
    async with pc.ctx.db.read() as session:
        todo = [s for s in await snapshots_of(session, pc.run_id) if s.key_hash is None]
        live = await keys.live_keys(session, pc.strategy.strategy_id)
    failures: list[dict[str, str]] = []
    first_error: BaseException | None = None
    done = 0
    by_name: dict[str, list[OpenRouterKey]] = {}
    if todo:
        # One listing finds every key a crashed attempt created but never recorded.
        listed = await pc.guard.call("openrouter", pc.clients.keys.list_keys, what="GET /keys")
        for key in listed:
            by_name.setdefault(key.name, []).append(key)
    for snap in todo:
        try:
            await provision_one(pc, snap, live.get(snap.holder_wallet), by_name, store)
            done += 1
        except LockLost:
            raise  # another process owns the strategy now: stop at once
        except Exception as exc:  # one holder's failure must not stop the others
            first_error = first_error or exc
            reason = str(exc) or type(exc).__name__
            failures.append({"wallet": snap.holder_wallet, "reason": reason})
            pc.log.warning("Key provisioning failed", wallet=snap.holder_wallet, err=exc)
            await pc.journal(
                lambda s, w=snap.holder_wallet, r=reason: audit.record(  # type: ignore[misc]
                    s, pc.run_id, "PROVISIONING", FAILED, pc.now(), {"wallet": w, "reason": r}
                )
            )
    if todo and done == 0 and first_error is not None:
        raise PhaseFailure(
            error_code(first_error)
            if error_code(first_error) != "PHASE_ERROR"
            else "PROVISIONING_FAILED",
            f"{len(failures)} of {len(todo)} keys failed; first: "
            f"{failures[0]['wallet']}: {failures[0]['reason']}",
        )
    async with pc.ctx.db.read() as session:
        created = len(await audit.with_action(session, pc.run_id, CREATED))
        updated = len(await audit.with_action(session, pc.run_id, TOPPED_UP))
        hashes = [s.key_hash for s in await snapshots_of(session, pc.run_id) if s.key_hash]
    return PhaseOutcome(
        checkpoint={"keys_provisioned": created, "keys_updated": updated},
        details={
            "keysProvisioned": created,
            "keysUpdated": updated,
            "keysFailed": len(failures),
            "failedWallets": failures,
            "keyHashes": hashes,
        },
    )


async def provision_one(
    pc: PhaseContext,
    snap: AllocationSnapshot,
    live: UserKey | None,
    by_name: dict[str, list[OpenRouterKey]],
    store: KeyStore,
) -> str:
    port = pc.clients.keys
    if live is not None:
        remote = await pc.guard.call(
            "openrouter", lambda: port.get_key(live.openrouter_key_hash), what="GET /keys/:h"
        )
        if remote is not None and not remote.disabled and remote.limit is not None:
            await top_up(pc, snap, live, remote)
            return "updated"
        await pc.journal(lambda s: _retire(s, pc, live, remote))
    await create(pc, snap, by_name, store)
    return "created"


async def top_up(
    pc: PhaseContext, snap: AllocationSnapshot, live: UserKey, remote: OpenRouterKey
) -> None:
    port = pc.clients.keys
    allocation = Decimal(snap.allocated_cents) / 100
    async with pc.ctx.db.read() as session:
        intents = [
            audit.details_of(e)
            for e in await audit.with_action(session, pc.run_id, TOPUP_INTENT)
            if audit.details_of(e).get("wallet") == snap.holder_wallet
        ]
    assert remote.limit is not None
    before = remote.limit
    target: Decimal | None = None
    if intents and abs(remote.limit - Decimal(intents[-1]["toLimit"])) < SAME_LIMIT:
        target = remote.limit  # the PATCH of a crashed attempt already went through
        before = Decimal(intents[-1]["fromLimit"])
    if target is None:
        target = topped_up_limit(KeyBudget.of(remote), allocation)
        intent = {
            "wallet": snap.holder_wallet,
            "keyHash": remote.hash,
            "fromLimit": str(before),
            "toLimit": str(target),
            "allocationUsd": str(allocation),
        }
        await pc.journal(
            lambda s: audit.record(s, pc.run_id, "PROVISIONING", TOPUP_INTENT, pc.now(), intent)
        )
        new_limit = target
        await pc.guard.call(
            "openrouter",
            lambda: port.update_key(remote.hash, limit=new_limit),
            what="PATCH /keys/:h",
        )
    final = target

    async def record(session: AsyncSession) -> None:
        now = pc.now()
        row = await session.get(UserKey, live.key_id)
        assert row is not None
        row.limit_usd_cents = keys.cents_of(final)
        row.total_allocated_cents += snap.allocated_cents
        row.status = "ACTIVE"
        row.updated_at = now
        await _attach(session, snap, remote.hash)
        await audit.record(
            session,
            pc.run_id,
            "PROVISIONING",
            TOPPED_UP,
            now,
            {
                "wallet": snap.holder_wallet,
                "keyHash": remote.hash,
                "fromLimit": str(before),
                "toLimit": str(final),
                "allocationUsd": str(allocation),
            },
        )

    await pc.journal(record)


async def create(
    pc: PhaseContext,
    snap: AllocationSnapshot,
    by_name: dict[str, list[OpenRouterKey]],
    store: KeyStore,
) -> None:
    port = pc.clients.keys
    strategy = pc.strategy
    name = keys.key_name(strategy.strategy_id, snap.holder_wallet, pc.run_id)
    for orphan in by_name.pop(name, []):
        await delete_orphan(pc, snap, orphan)
    limit = Decimal(snap.allocated_cents) / 100
    days = strategy.key_expiry_days
    expires = pc.now() + timedelta(days=days) if days > 0 else None
    created = await pc.guard.call(
        "openrouter",
        lambda: port.create_key(name, limit, strategy.key_limit_reset, expires),
        retry=False,  # a retried create could make a second key; a resume finds it by name
        what="POST /keys",
    )
    key_hash = created.key.hash
    sealed = store.encrypt(created.plaintext, key_hash)

    async def record(session: AsyncSession) -> None:
        now = pc.now()
        session.add(
            UserKey(
                key_id=new_id(now),
                strategy_id=strategy.strategy_id,
                holder_wallet=snap.holder_wallet,
                openrouter_key_hash=key_hash,
                key_name=name,
                encrypted_key=sealed,
                limit_usd_cents=snap.allocated_cents,
                limit_reset=strategy.key_limit_reset,
                total_allocated_cents=snap.allocated_cents,
                status="ACTIVE",
                created_at=now,
                updated_at=now,
                expires_at=expires,
            )
        )
        await _attach(session, snap, key_hash)
        await audit.record(
            session,
            pc.run_id,
            "PROVISIONING",
            CREATED,
            now,
            {"wallet": snap.holder_wallet, "keyHash": key_hash, "limitUsd": str(limit)},
        )

    await pc.journal(record)


async def delete_orphan(pc: PhaseContext, snap: AllocationSnapshot, orphan: OpenRouterKey) -> None:
    """Delete a key a crashed attempt created but never recorded (its plaintext is lost)."""
    port = pc.clients.keys
    await pc.guard.call("openrouter", lambda: port.delete_key(orphan.hash), what="DELETE /keys")
    details = {
        "wallet": snap.holder_wallet,
        "keyHash": orphan.hash,
        "reason": "created by an interrupted attempt and never recorded",
    }
    await pc.journal(
        lambda s: audit.record(
            s, pc.run_id, "PROVISIONING", "provision:orphan-deleted", pc.now(), details
        )
    )


async def rehearse(pc: PhaseContext) -> PhaseOutcome:
    """DRY_RUN: what provisioning would do for the plan ALLOCATING audited."""
    async with pc.ctx.db.read() as session:
        entry = await audit.latest(session, pc.run_id, ALLOCATED)
        live = await keys.live_keys(session, pc.strategy.strategy_id)
    plan = audit.details_of(entry).get("allocations", []) if entry else []
    would: list[dict[str, Any]] = []
    for item in plan:
        key = live.get(item["wallet"])
        action = "top-up" if key is not None else "create"
        would.append({"wallet": item["wallet"], "action": action, "allocationCents": item["cents"]})
    return PhaseOutcome(
        checkpoint={"keys_provisioned": 0, "keys_updated": 0},
        details={
            "dryRun": True,
            "keysProvisioned": 0,
            "keysUpdated": 0,
            "keysFailed": 0,
            "wouldCreate": sum(1 for w in would if w["action"] == "create"),
            "wouldTopUp": sum(1 for w in would if w["action"] == "top-up"),
            "plan": would,
        },
    )


async def _attach(session: AsyncSession, snap: AllocationSnapshot, key_hash: str) -> None:
    row = await session.get(AllocationSnapshot, snap.snapshot_id)
    assert row is not None
    row.key_hash = key_hash


async def _retire(
    session: AsyncSession, pc: PhaseContext, live: UserKey, remote: OpenRouterKey | None
) -> None:
    """A recorded key that is gone or disabled on OpenRouter stops being the holder's key."""
    row = await session.get(UserKey, live.key_id)
    assert row is not None
    row.status = "REVOKED"
    row.encrypted_key = None
    row.updated_at = pc.now()
    await audit.record(
        session,
        pc.run_id,
        "PROVISIONING",
        "provision:key-retired",
        pc.now(),
        {
            "wallet": live.holder_wallet,
            "keyHash": live.openrouter_key_hash,
            "reason": "missing on OpenRouter" if remote is None else "disabled on OpenRouter",
        },
    )
