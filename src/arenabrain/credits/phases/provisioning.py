"""PROVISIONING: give every holder of the plan their credit, one key each.

For each allocation of the run that has no key yet:
- the holder's unsettled top-ups (of any run, on any of their keys) are settled first against
  the keys' real state (`credits/mutations.py`): one that went through counts as provisioned,
  and is never applied again;
- a holder with a live key of this strategy gets a **top-up** (`topup.topped_up_limit`: what
  they can still spend grows by exactly the allocation). Its intent is journaled in
  `key_mutations` before the PATCH, and the PATCH's answer settles it;
- a key past its `expires_at` (OpenRouter's, by the run's clock) is never topped up: it is
  marked EXPIRED and the holder gets a fresh key. A key gone from OpenRouter, disabled there, or
  without a limit is retired (REVOKED) and replaced the same way;
- any other holder gets a **new key**: named with the strategy's stable prefix and a digest
  of (strategy, wallet, run), `limit_reset` as OpenRouter's enum (B10), `expires_at` from the
  strategy's expiry days (0 = never). The plaintext is stored encrypted with
  KEY_ENCRYPTION_KEY, next to the hash.
Before any of that, unrecorded keys carrying the name this run gives the holder are looked up:
one found was created by a crashed attempt (or answered with an error) and never recorded; its
plaintext is lost, so it is deleted whatever the holder gets now (no duplicate, no key left
holding a limit nobody can use, and the holder can collect the new one).
Each holder is recorded as soon as its key is done (the allocation snapshot's `key_hash`), so
a resume continues with the holders still missing. One holder's failure does not stop the
others, but a phase that leaves any allocation unprovisioned fails: `error_code` names the
first failure's cause, `error_detail` counts and names the wallets left, and the resume
provisions only those.

DRY_RUN: the plan is read from the ALLOCATING audit entry; what would be created or topped up
is audited; no key is created or changed."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, fields
from datetime import datetime, timedelta
from decimal import Decimal
from functools import partial
from typing import Any, TypeVar, cast

from sqlalchemy import Table, bindparam, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from arenabrain.clients.errors import UpstreamError
from arenabrain.clients.openrouter.keys import OpenRouterKey
from arenabrain.credits import audit, keys, mutations, rotation, staged
from arenabrain.credits.keystore import KeyStore, keystore_for
from arenabrain.credits.locks import LockLost
from arenabrain.credits.models import AllocationSnapshot, KeyMutation, Run, UserKey
from arenabrain.credits.mutations import Intent, Outcome
from arenabrain.credits.phases.base import PhaseContext, PhaseFailure, PhaseOutcome, error_code
from arenabrain.credits.topup import KeyBudget, topped_up_limit
from arenabrain.db.ids import new_id
from arenabrain.logging import get_logger

T = TypeVar("T")
Write = Callable[[AsyncSession], Awaitable[T]]
CREATED = "provision:create"
TOPPED_UP = "provision:topup"
TOPUP_NOT_APPLIED = "provision:topup-not-applied"
TOPUP_UNKNOWN = "provision:topup-unknown"
KEY_EXPIRED = "provision:key-expired"
FAILED = "provision:failed"
ALLOCATED = "transition:ALLOCATING->PROVISIONING"


@dataclass(frozen=True)
class Failure:
    where: str  # a wallet, or the call that failed before any wallet was tried
    error: BaseException

    @property
    def reason(self) -> str:
        return str(self.error) or type(self.error).__name__


async def snapshots_of(session: AsyncSession, run_id: str) -> list[AllocationSnapshot]:
    rows = await session.scalars(
        select(AllocationSnapshot)
        .where(AllocationSnapshot.run_id == run_id, AllocationSnapshot.allocated_cents > 0)
        .order_by(AllocationSnapshot.allocated_cents.desc(), AllocationSnapshot.holder_wallet)
        .execution_options(populate_existing=True)
    )
    return list(rows)


def expired(expires_at: datetime | None, now: datetime) -> bool:
    """Past its expiry (OpenRouter refuses the key from that instant on)."""
    return expires_at is not None and expires_at <= now


async def provisioning(pc: PhaseContext) -> PhaseOutcome:
    if not pc.dry_run:
        # A key rotation or revocation a crash interrupted is finished before any key is read,
        # so no holder keeps two live keys past this run (credits/rotation.py).
        await rotation.finish_unfinished(
            rotation.Rotator(
                pc.ctx, pc.journal, pc.clients.keys, pc.guard, keystore_for(pc.ctx.settings), "run"
            ),
            pc.strategy.strategy_id,
        )
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
    failures: list[Failure] = []
    by_name: dict[str, list[OpenRouterKey]] = {}
    if todo:
        # One listing finds every key a crashed attempt created but never recorded.
        try:
            listed = await pc.guard.call("openrouter", pc.clients.keys.list_keys, what="GET /keys")
        except UpstreamError as exc:
            failures.append(Failure("GET /keys", exc))
            todo = []
        else:
            for key in listed:
                by_name.setdefault(key.name, []).append(key)
    failures += await provision_all(pc, todo, live, by_name, store)
    counts = await pc.journal(lambda s: _counts(s, pc.run_id))
    async with pc.ctx.db.read() as session:
        plan = await snapshots_of(session, pc.run_id)
        unknown = [
            audit.details_of(e) for e in await audit.with_action(session, pc.run_id, TOPUP_UNKNOWN)
        ]
    left = [s.holder_wallet for s in plan if s.key_hash is None]
    if left:
        raise unprovisioned(len(plan), left, failures)
    return PhaseOutcome(
        checkpoint=counts,
        details={
            "keysProvisioned": counts["keys_provisioned"],
            "keysUpdated": counts["keys_updated"],
            "keysFailed": len(failures),
            "failedWallets": [{"wallet": f.where, "reason": f.reason} for f in failures],
            "keyHashes": [s.key_hash for s in plan],
            "topUpsUnknown": unknown,
        },
    )


@dataclass
class GroupCommit(PhaseContext):
    """The phase's journal writes, committed together: each write that arrives while another
    commit is in progress joins the next one, in one unit of work with one lock refresh.

    Concurrent holders share one SQLite database, where every transaction costs a round trip
    to the writer and a commit; holders waiting on each other's commits would serialise the
    phase on them. A holder still goes on only once its own write is committed, so nothing
    is recorded later than before. When a group fails, its writes are committed one by one,
    so one holder's failing write fails only that holder."""

    writes: asyncio.Lock = field(default_factory=asyncio.Lock)
    queued: list[tuple[Write[Any], asyncio.Future[Any]]] = field(default_factory=list)

    async def journal(self, write: Write[T]) -> T:
        done: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self.queued.append((write, done))
        try:
            async with self.writes:
                if not done.done():  # nobody committed it while this holder waited: commit all
                    group, self.queued = self.queued, []
                    # Shielded: a cancelled leader still settles every write of its group.
                    await asyncio.shield(self._commit(group))
        except asyncio.CancelledError:
            # The write may still be committed by a group; nobody is left to read its outcome.
            done.add_done_callback(lambda f: f.cancelled() or f.exception())
            raise
        return done.result()

    async def _commit(self, group: list[tuple[Write[Any], asyncio.Future[Any]]]) -> None:
        async def together(session: AsyncSession) -> list[Any]:
            return [await write(session) for write, _ in group]

        try:
            results = await super().journal(together)
        except LockLost as exc:
            for _, done in group:
                done.set_exception(exc)
            return
        except Exception as exc:
            if len(group) == 1:
                group[0][1].set_exception(exc)
                return
            for write, done in group:  # rolled back: each on its own, to isolate the failure
                try:
                    done.set_result(await super().journal(write))
                except Exception as own:
                    done.set_exception(own)
            return
        for (_, done), result in zip(group, results, strict=True):
            done.set_result(result)


@dataclass
class Provisioner(GroupCommit):
    """The phase context the concurrent holders share: their journal writes group-committed,
    and at most PROVISIONING_CONCURRENCY OpenRouter requests in flight (`requests`).

    The bound is on requests, not on holders: a holder waiting for its journal write to
    commit does not hold a request's place, so OpenRouter is kept as busy as the bound allows
    while the database catches up. The holders under way (`holders`) are bounded too, at
    twice as many, which bounds the keys created and not yet recorded (those a crash would
    leave for the resume to delete as orphans)."""

    requests: asyncio.Semaphore = field(default_factory=asyncio.Semaphore)
    holders: asyncio.Semaphore = field(default_factory=asyncio.Semaphore)

    @classmethod
    def of(cls, pc: PhaseContext) -> Provisioner:
        bound = pc.ctx.settings.provisioning_concurrency
        return cls(
            **{f.name: getattr(pc, f.name) for f in fields(PhaseContext)},
            requests=asyncio.Semaphore(bound),
            holders=asyncio.Semaphore(2 * bound),
        )

    async def openrouter(
        self, call: Callable[[], Awaitable[T]], what: str, retry: bool = True
    ) -> T:
        """One OpenRouter request of a holder, within the bound."""
        async with self.requests:
            return await self.guard.call("openrouter", call, retry=retry, what=what)


async def provision_all(
    pc: PhaseContext,
    todo: list[AllocationSnapshot],
    live: dict[str, UserKey],
    by_name: dict[str, list[OpenRouterKey]],
    store: KeyStore,
) -> list[Failure]:
    """Provision every holder of `todo`, at most PROVISIONING_CONCURRENCY OpenRouter requests
    at a time; returns the failures in plan order.

    Holders are independent: each has its own key, so the journal's one-pending-mutation-per-
    key rule holds across concurrent holders, and each holder's steps stay in order. Every
    journal write refreshes the locks, so a long phase keeps them. Another process taking the
    strategy over (LockLost) stops every holder at once."""
    failed: dict[str, Failure] = {}
    unsettled = await wallets_with_pending(pc)
    pc = Provisioner.of(pc)

    async def one(snap: AllocationSnapshot) -> None:
        async with pc.holders:
            try:
                await provision_one(
                    pc,
                    snap,
                    live.get(snap.holder_wallet),
                    by_name,
                    store,
                    pending=snap.holder_wallet in unsettled,
                )
            except LockLost:
                raise  # another process owns the strategy now: stop at once
            except Exception as exc:  # one holder's failure must not stop the others
                failure = failed[snap.holder_wallet] = Failure(snap.holder_wallet, exc)
                pc.log.warning("Key provisioning failed", wallet=snap.holder_wallet, err=exc)
                details = {"wallet": snap.holder_wallet, "reason": failure.reason}
                await pc.journal(
                    lambda s: audit.record(s, pc.run_id, "PROVISIONING", FAILED, pc.now(), details)
                )

    try:
        async with asyncio.TaskGroup() as group:
            for snap in todo:
                group.create_task(one(snap))
    except BaseExceptionGroup as stopped:
        # What stopped the holders (the others were cancelled): a lost lock first, else the
        # first error, raised as itself, as the sequential loop would have.
        raise (LockLost() if stopped.subgroup(LockLost) else stopped.exceptions[0]) from None
    return [failed[s.holder_wallet] for s in todo if s.holder_wallet in failed]


def unprovisioned(total: int, left: list[str], failures: list[Failure]) -> PhaseFailure:
    """The run's failure when allocations are left: the first failure's cause, every wallet."""
    first = failures[0] if failures else None
    code = error_code(first.error) if first else "PROVISIONING_INCOMPLETE"
    if code == "PHASE_ERROR":
        code = "PROVISIONING_FAILED"
    detail = (
        f"{len(left)} of {total} allocations not provisioned ({total - len(left)} done); "
        f"wallets left: {', '.join(left)}"
    )
    if first is not None:
        detail += f"; first error: {first.where}: {first.reason}"
    return PhaseFailure(code, detail + "; resume the run to provision the rest")


async def _counts(session: AsyncSession, run_id: str) -> dict[str, int]:
    """Keys created and topped up for this run so far (every attempt); kept on the run row, so
    a failed run shows what it did."""
    counts = {
        "keys_provisioned": await audit.count(session, run_id, CREATED),
        "keys_updated": await audit.count(session, run_id, TOPPED_UP),
    }
    run = await session.get(Run, run_id)
    assert run is not None
    run.keys_provisioned = counts["keys_provisioned"]
    run.keys_updated = counts["keys_updated"]
    return counts


async def provision_one(
    pc: Provisioner,
    snap: AllocationSnapshot,
    live: UserKey | None,
    by_name: dict[str, list[OpenRouterKey]],
    store: KeyStore,
    *,
    pending: bool = True,
) -> None:
    """Give one holder their allocation. `pending`: the holder may have unsettled top-ups."""
    # Keys named for this run and holder that nobody recorded were made by a crashed attempt
    # (their plaintext is lost): delete them whatever this holder gets now, so none is left.
    name = keys.key_name(pc.strategy.strategy_id, snap.holder_wallet, pc.run_id)
    for orphan in by_name.pop(name, []):
        await delete_orphan(pc, snap, orphan)
    seen: dict[str, OpenRouterKey | None] = {}
    if live is not None:
        seen[live.openrouter_key_hash] = await get_key(pc, live.openrouter_key_hash)
    settled = pending and await settle_pending(pc, snap.holder_wallet, seen)
    if settled and await attached(pc, snap):
        return  # an earlier attempt's top-up went through: settled above, never applied again
    if live is not None:
        remote = seen[live.openrouter_key_hash]
        usable = remote is not None and not remote.disabled and remote.limit is not None
        if remote is not None and usable:
            if not expired(remote.expires_at, pc.now()):
                await top_up(pc, snap, remote)
                return
            await pc.journal(lambda s: _expire(s, pc, live, remote))
        else:
            await pc.journal(lambda s: _retire(s, pc, live, remote))
    await create(pc, snap, name, store)


async def get_key(pc: Provisioner, key_hash: str) -> OpenRouterKey | None:
    port = pc.clients.keys
    return await pc.openrouter(lambda: port.get_key(key_hash), "GET /keys/:h")


async def attached(pc: PhaseContext, snap: AllocationSnapshot) -> bool:
    async with pc.ctx.db.read() as session:
        row = await session.get(AllocationSnapshot, snap.snapshot_id, populate_existing=True)
        return row is not None and row.key_hash is not None


async def settle_pending(
    pc: Provisioner, wallet: str, seen: dict[str, OpenRouterKey | None]
) -> int:
    """Settle the holder's unfinished top-ups (any run's) against their keys' real state;
    returns how many there were."""
    async with pc.ctx.db.read() as session:
        rows = await mutations.pending_for_holder(session, pc.strategy.strategy_id, wallet)
        pending = [Intent.of(row) for row in rows]
    for intent in pending:
        if intent.key_hash not in seen:
            seen[intent.key_hash] = await get_key(pc, intent.key_hash)
        remote = seen[intent.key_hash]
        await pc.journal(partial(settle_intent, pc=pc, intent=intent, remote=remote))
    return len(pending)


async def wallets_with_pending(pc: PhaseContext) -> set[str]:
    """The strategy's holders with unfinished top-ups, read once for the whole phase (this run
    holds the strategy's lock: nobody else adds one meanwhile)."""
    async with pc.ctx.db.read() as session:
        rows = await session.scalars(
            select(KeyMutation.holder_wallet).where(
                KeyMutation.strategy_id == pc.strategy.strategy_id,
                KeyMutation.status == Outcome.PENDING.value,
            )
        )
        return set(rows)


async def settle_intent(
    session: AsyncSession, pc: PhaseContext, intent: Intent, remote: OpenRouterKey | None
) -> Outcome:
    """Settle one intent from the key's state and record what it means for its allocation
    (staged: a group of holders' settlements costs a few statements, not a few each)."""
    now = pc.now()
    result = mutations.stage_settle(session, intent, remote, pc.run_id, now)
    details = {
        "wallet": intent.holder_wallet,
        "keyHash": intent.key_hash,
        "fromLimit": str(intent.before),
        "toLimit": str(intent.after),
        "observedLimit": None if remote is None or remote.limit is None else str(remote.limit),
        "allocationUsd": str(Decimal(intent.allocated_cents) / 100),
        "settledBy": pc.run_id,
    }
    if result is Outcome.NOT_APPLIED:
        audit.stage(session, intent.run_id, "PROVISIONING", TOPUP_NOT_APPLIED, now, details)
        return result
    # Applied, or unknown and so counted as given: this allocation is never sent again.
    attach(session, intent.snapshot_id, intent.key_hash)
    applied = result is Outcome.APPLIED
    keys.stage_top_up(
        session,
        intent.key_hash,
        limit_cents=keys.cents_of(remote.limit) if remote and remote.limit is not None else None,
        added_cents=intent.allocated_cents if applied else 0,
        now=now,
    )
    action = TOPPED_UP if applied else TOPUP_UNKNOWN
    audit.stage(session, intent.run_id, "PROVISIONING", action, now, details)
    if not applied:
        get_logger().error(
            "Top-up outcome unknown: the key's limit matches neither side of the intent; "
            "counted as given, never applied again. Review the key.",
            **details,
        )
    return result


async def top_up(pc: Provisioner, snap: AllocationSnapshot, remote: OpenRouterKey) -> None:
    port = pc.clients.keys
    before = remote.limit
    assert before is not None
    target = topped_up_limit(KeyBudget.of(remote), Decimal(snap.allocated_cents) / 100)
    intent = Intent.new(
        key_hash=remote.hash,
        strategy_id=pc.strategy.strategy_id,
        holder_wallet=snap.holder_wallet,
        run_id=pc.run_id,
        snapshot_id=snap.snapshot_id,
        allocated_cents=snap.allocated_cents,
        before=before,
        after=target,
        now=pc.now(),
    )

    async def journal_intent(session: AsyncSession) -> None:
        mutations.stage_intent(session, intent, pc.now())

    # Committed before the PATCH is sent: the holder goes on once its group has committed.
    await pc.journal(journal_intent)
    # An error leaves the intent PENDING: the next touch of this holder settles it by GET.
    answer = await pc.openrouter(
        lambda: port.update_key(remote.hash, limit=target), "PATCH /keys/:h"
    )
    result = await pc.journal(lambda s: settle_intent(s, pc, intent, answer))
    if result is Outcome.NOT_APPLIED:
        raise UpstreamError(
            "openrouter",
            f"PATCH keys answered with limit {answer.limit}, not {target}: the top-up did not "
            "apply",
        )


async def create(pc: Provisioner, snap: AllocationSnapshot, name: str, store: KeyStore) -> None:
    port = pc.clients.keys
    strategy = pc.strategy
    limit = Decimal(snap.allocated_cents) / 100
    days = strategy.key_expiry_days
    expires = pc.now() + timedelta(days=days) if days > 0 else None
    created = await pc.openrouter(
        lambda: port.create_key(name, limit, strategy.key_limit_reset, expires),
        "POST /keys",
        retry=False,  # a retried create could make a second key; a resume finds it by name
    )
    key_hash = created.key.hash
    sealed = store.encrypt(created.plaintext, key_hash)

    async def record(session: AsyncSession) -> None:
        # Staged: a group of holders' records costs three statements, not three each.
        now = pc.now()
        staged.insert(
            session,
            UserKey,
            {
                "key_id": new_id(now),
                "strategy_id": strategy.strategy_id,
                "holder_wallet": snap.holder_wallet,
                "openrouter_key_hash": key_hash,
                "key_name": name,
                "encrypted_key": sealed,
                "limit_usd_cents": snap.allocated_cents,
                "limit_reset": strategy.key_limit_reset,
                "total_allocated_cents": snap.allocated_cents,
                "status": "ACTIVE",
                "created_at": now,
                "updated_at": now,
                "expires_at": expires,
            },
        )
        attach(session, snap.snapshot_id, key_hash)
        audit.stage(
            session,
            pc.run_id,
            "PROVISIONING",
            CREATED,
            now,
            {"wallet": snap.holder_wallet, "keyHash": key_hash, "limitUsd": str(limit)},
        )

    await pc.journal(record)


async def delete_orphan(pc: Provisioner, snap: AllocationSnapshot, orphan: OpenRouterKey) -> None:
    """Delete a key a crashed attempt created but never recorded (its plaintext is lost)."""
    async with pc.ctx.db.read() as session:
        if await keys.by_hash(session, orphan.hash) is not None:
            return  # recorded: a holder's key, not an orphan
    port = pc.clients.keys
    await pc.openrouter(lambda: port.delete_key(orphan.hash), "DELETE /keys")
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
        step: dict[str, Any] = {"wallet": item["wallet"], "allocationCents": item["cents"]}
        if key is None:
            step["action"] = "create"
        elif expired(key.expires_at, pc.now()):
            step |= {"action": "create", "replacesExpired": key.openrouter_key_hash}
        else:
            step["action"] = "top-up"
        would.append(step)
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


_SNAPSHOTS = cast(Table, AllocationSnapshot.__table__)
_ATTACH = (
    update(_SNAPSHOTS)
    .where(_SNAPSHOTS.c.snapshot_id == bindparam("snapshot"))
    .values(key_hash=bindparam("key"))
)


def attach(session: AsyncSession, snapshot_id: str, key_hash: str) -> None:
    """Record the key an allocation went to (staged: one UPDATE for the group)."""
    staged.execute(session, _ATTACH, {"snapshot": snapshot_id, "key": key_hash}, one_row=True)


async def _expire(
    session: AsyncSession, pc: PhaseContext, live: UserKey, remote: OpenRouterKey
) -> None:
    """A key past its expiry is never topped up: EXPIRED, and the holder gets a fresh one."""
    row = await session.get(UserKey, live.key_id)
    assert row is not None
    row.status = "EXPIRED"
    row.updated_at = pc.now()
    await audit.record(
        session,
        pc.run_id,
        "PROVISIONING",
        KEY_EXPIRED,
        pc.now(),
        {
            "wallet": live.holder_wallet,
            "keyHash": live.openrouter_key_hash,
            "expiresAt": remote.expires_at,
            "reason": "past its expiry; a fresh key gets this allocation",
        },
    )


async def _retire(
    session: AsyncSession, pc: PhaseContext, live: UserKey, remote: OpenRouterKey | None
) -> None:
    """A recorded key that is gone, disabled or unlimited on OpenRouter stops being the
    holder's key."""
    row = await session.get(UserKey, live.key_id)
    assert row is not None
    row.status = "REVOKED"
    row.encrypted_key = None
    row.updated_at = pc.now()
    if remote is None:
        reason = "missing on OpenRouter"
    elif remote.disabled:
        reason = "disabled on OpenRouter"
    else:
        reason = "has no limit on OpenRouter"
    await audit.record(
        session,
        pc.run_id,
        "PROVISIONING",
        "provision:key-retired",
        pc.now(),
        {"wallet": live.holder_wallet, "keyHash": live.openrouter_key_hash, "reason": reason},
    )
