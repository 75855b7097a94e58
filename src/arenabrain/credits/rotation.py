"""Rotating and revoking holder keys, journaled step by step (`key_rotations`).

A **rotation** replaces a holder's key with a new one that has the same remaining allowance,
the same `limit_reset` and the same `expires_at`; the new plaintext is encrypted for the holder
to collect (`collection.py`), and the old key is disabled and deleted. A **revocation**
disables, then deletes, the key and frees the wallet: the next run gives the holder a new key.
Both are refused under DRY_RUN and the kill switch (`policy.key_mutation`), and both hold the
strategy's run lock, so they never race a run's PROVISIONING on the same key (409 while a run
is in progress; a scheduled run meanwhile is skipped the same way).

Steps (each one's outcome is committed before the next OpenRouter call):

    ROTATE   PENDING --disable old--> DISABLED --create new--> CREATED --delete old--> DONE
    REVOKE   PENDING --disable old--> DISABLED --delete old--> DONE

The old key is disabled *first*: from then on nobody spends from it, so its remaining allowance
read after the disable is final and the new key gets exactly that (a key read while still
usable could be spent from between the read and the switch, and that spend would be given
twice). For a key with a `limit_reset`, "remaining" is what is left in the current window, so
the new key's per-window budget is that amount; the difference stays in the credit pool (the
pool re-reads live keys every run) and the next run's allocation can top the holder up.

Crash safety. An entry that is not DONE is finished, never started again, by the next
rotation or revocation of that holder, the daily rotation job, and the next pipeline run of the
strategy (PROVISIONING finishes them before it reads any key): a disable or delete is repeated
(a key already gone counts as done); a create whose answer was lost left a key with the entry's
own name that nobody recorded (its plaintext is lost), so that key is deleted and the create
made again. The old key becomes ROTATED or REVOKED in our table in the same unit of work that
records the new key (ROTATE) or starts the entry (REVOKE), so one holder never has two live
keys here, and after the entry is finished never two enabled keys on OpenRouter. The rows are
the audit trail: kind, trigger, reason, both hashes, the new limit, each step's time and the
last error. No plaintext is ever logged or stored unencrypted."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from functools import partial
from typing import Any, Protocol, TypeVar

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from arenabrain.clients.errors import UpstreamError
from arenabrain.clients.openrouter.keys import OpenRouterKey
from arenabrain.context import Context
from arenabrain.credits import keys, locks, mutations, policy
from arenabrain.credits.keystore import KeyStore, keystore_for
from arenabrain.credits.locks import RunInProgress
from arenabrain.credits.models import LIVE_KEY_STATUSES, KeyRotation, UserKey
from arenabrain.credits.ports import KeysPort
from arenabrain.credits.schemas import Revoked, Rotated
from arenabrain.credits.topup import KeyBudget, remaining, usd_to_cents
from arenabrain.credits.upstreams import Guard
from arenabrain.db.ids import new_id
from arenabrain.errors import AppError, Conflict, NotFound, ServiceUnavailable
from arenabrain.logging import get_logger

T = TypeVar("T")
ROTATE, REVOKE = "ROTATE", "REVOKE"
PENDING, DISABLED, CREATED, DONE = "PENDING", "DISABLED", "CREATED", "DONE"
NO_KEY = "No active key found for wallet"


class Journal(Protocol):
    """Commit `write(session)` now, in its own unit of work (refreshing the lock held)."""

    async def __call__(self, write: Callable[[AsyncSession], Awaitable[T]]) -> T: ...


@dataclass(frozen=True)
class Rotator:
    """What the steps need: where to write, whom to call, how to seal the new plaintext."""

    ctx: Context
    journal: Journal
    keys: KeysPort
    guard: Guard
    store: KeyStore | None
    trigger: str

    def now(self) -> datetime:
        return self.ctx.clock.now()


# --- locking ---------------------------------------------------------------------------------


def _journal(ctx: Context, strategy_id: str | None, holder: str | None) -> Journal:
    async def journal(write: Callable[[AsyncSession], Awaitable[T]]) -> T:
        async with ctx.db.write() as session:
            if strategy_id is not None and holder is not None:
                await _heartbeat(session, strategy_id, holder, ctx.clock.now())
            return await write(session)

    return journal


async def _heartbeat(session: AsyncSession, strategy_id: str, holder: str, now: datetime) -> None:
    if not await locks.refresh(session, strategy_id, holder, now):
        raise locks.LockLost()


@asynccontextmanager
async def holding(ctx: Context, strategy_id: str | None) -> AsyncIterator[Journal]:
    """Hold the strategy's run lock (409 while a run is in progress) and yield a journal that
    refreshes it. A key whose strategy was deleted cannot be touched by any run: no lock."""
    if strategy_id is None:
        yield _journal(ctx, None, None)
        return
    # Imported here: the runner imports the phases, and PROVISIONING imports this module.
    from arenabrain.credits.runs import run_lock

    async with run_lock(ctx, strategy_id) as holder:
        yield _journal(ctx, strategy_id, holder)


def rotator(ctx: Context, journal: Journal, trigger: str) -> Rotator:
    return Rotator(ctx, journal, ctx.clients.keys, Guard(ctx), keystore_for(ctx.settings), trigger)


def _required_store(ctx: Context) -> KeyStore:
    store = keystore_for(ctx.settings)
    if store is None:
        raise ServiceUnavailable(
            "Key rotation is not configured (KEY_ENCRYPTION_KEY is unset): the new key could "
            "not be stored for its holder"
        )
    return store


# --- the journal -------------------------------------------------------------------------------


async def unfinished(
    session: AsyncSession, strategy_id: str | None, wallet: str | None = None
) -> list[KeyRotation]:
    """Entries not DONE of a strategy (and one holder), oldest first."""
    of_strategy = (
        KeyRotation.strategy_id.is_(None)
        if strategy_id is None
        else KeyRotation.strategy_id == strategy_id
    )
    query = (
        select(KeyRotation)
        .where(KeyRotation.status != DONE, of_strategy)
        .order_by(KeyRotation.created_at, KeyRotation.id)
        .execution_options(populate_existing=True)
    )
    if wallet is not None:
        query = query.where(KeyRotation.holder_wallet == wallet)
    return list(await session.scalars(query))


def _entry(key: UserKey, kind: str, trigger: str, reason: str, now: datetime) -> KeyRotation:
    entry_id = new_id(now)
    name = None
    if kind == ROTATE:
        name = keys.key_name(key.strategy_id or "none", key.holder_wallet, f"rotation:{entry_id}")
    return KeyRotation(
        id=entry_id,
        kind=kind,
        status=PENDING,
        strategy_id=key.strategy_id,
        holder_wallet=key.holder_wallet,
        old_key_id=key.key_id,
        old_key_hash=key.openrouter_key_hash,
        new_key_name=name,
        trigger=trigger,
        reason=reason,
        created_at=now,
        updated_at=now,
    )


async def _begin(r: Rotator, key: UserKey, kind: str, reason: str) -> str:
    """Write the entry (PENDING); a revocation also frees the wallet at once."""

    async def write(session: AsyncSession) -> str:
        now = r.now()
        row = await session.get(UserKey, key.key_id, populate_existing=True)
        if row is None or row.status not in LIVE_KEY_STATUSES:
            raise Conflict("The key changed meanwhile; try again")
        entry = _entry(row, kind, r.trigger, reason, now)
        session.add(entry)
        if kind == REVOKE:
            row.status = "REVOKED"
            row.encrypted_key = None
            row.updated_at = now
        await session.flush()
        return entry.id

    entry_id = await r.journal(write)
    get_logger().info(
        "Key rotation started" if kind == ROTATE else "Key revocation started",
        rotationId=entry_id,
        wallet=key.holder_wallet,
        keyHash=key.openrouter_key_hash,
        trigger=r.trigger,
        reason=reason,
    )
    return entry_id


async def _load(r: Rotator, entry_id: str) -> KeyRotation:
    async with r.ctx.db.read() as session:
        entry = await session.get(KeyRotation, entry_id, populate_existing=True)
    assert entry is not None
    return entry


async def _advance(r: Rotator, entry_id: str, status: str, **values: Any) -> None:
    async def write(session: AsyncSession) -> None:
        entry = await session.get(KeyRotation, entry_id, populate_existing=True)
        assert entry is not None
        now = r.now()
        entry.status = status
        entry.updated_at = now
        entry.error = None
        for column, value in values.items():
            setattr(entry, column, value)
        if status == DONE:
            entry.finished_at = now

    await r.journal(write)


async def _note_error(r: Rotator, entry_id: str, error: BaseException) -> None:
    async def write(session: AsyncSession) -> None:
        entry = await session.get(KeyRotation, entry_id)
        if entry is not None:
            entry.error = str(error)[:500] or type(error).__name__
            entry.updated_at = r.now()

    await r.journal(write)


# --- the steps ----------------------------------------------------------------------------------


async def carry_on(r: Rotator, entry_id: str, *, recovering: bool) -> KeyRotation:
    """Take an entry through its remaining steps to DONE. `recovering`: an earlier attempt
    may have sent the create before it stopped, so look for a key it left first."""
    entry = await _load(r, entry_id)
    try:
        while entry.status != DONE:
            if entry.status == PENDING:
                await _disable_old(r, entry)
            elif entry.status == DISABLED and entry.kind == ROTATE:
                await _create_new(r, entry, recovering=recovering)
            else:  # a revocation once disabled, a rotation once its new key is recorded
                await _delete_old(r, entry)
            entry = await _load(r, entry_id)
    except UpstreamError as exc:
        await _note_error(r, entry_id, exc)
        get_logger().warning(
            "Key rotation stopped; the next rotation, run or daily job finishes it",
            rotationId=entry_id,
            step=entry.status,
            err=exc,
        )
        raise
    return entry


async def _disable_old(r: Rotator, entry: KeyRotation) -> None:
    port = r.keys
    try:
        await r.guard.call(
            "openrouter",
            lambda: port.update_key(entry.old_key_hash, disabled=True),
            what="PATCH /keys/:h",
        )
    except UpstreamError as exc:
        if exc.status != 404:
            raise
    if entry.kind == REVOKE:
        await _advance(r, entry.id, DISABLED)
        return
    # Disabled: nothing more is spent from it, so what it has left is final.
    old = await r.guard.call(
        "openrouter", lambda: port.get_key(entry.old_key_hash), what="GET /keys/:h"
    )
    left = None if old is None else remaining(KeyBudget.of(old))
    if left is None:
        await _abandon(r, entry, "the old key vanished from OpenRouter or lost its limit")
        return
    await _advance(r, entry.id, DISABLED, limit_usd_cents=usd_to_cents(left))


async def _abandon(r: Rotator, entry: KeyRotation, why: str) -> None:
    """The old key cannot be measured any more: retire it; the next run gives a fresh key."""

    async def write(session: AsyncSession) -> None:
        row = await session.get(UserKey, entry.old_key_id)
        if row is not None and row.status in LIVE_KEY_STATUSES:
            row.status = "REVOKED"
            row.encrypted_key = None
            row.updated_at = r.now()

    await r.journal(write)
    await _advance(r, entry.id, DONE, error=f"abandoned: {why}")
    get_logger().warning("Key rotation abandoned", rotationId=entry.id, reason=why)


async def _create_new(r: Rotator, entry: KeyRotation, *, recovering: bool) -> None:
    if r.store is None:
        raise ServiceUnavailable("KEY_ENCRYPTION_KEY is unset: the new key could not be stored")
    store = r.store
    name = entry.new_key_name
    assert name is not None and entry.limit_usd_cents is not None
    if recovering:
        await _delete_unrecorded(r, entry, name)
    async with r.ctx.db.read() as session:
        old = await session.get(UserKey, entry.old_key_id)
    assert old is not None
    limit = Decimal(entry.limit_usd_cents) / 100
    port = r.keys
    created = await r.guard.call(
        "openrouter",
        lambda: port.create_key(name, limit, old.limit_reset, old.expires_at),
        retry=False,  # a retried create could make a second key; recovery finds it by name
        what="POST /keys",
    )
    new_hash = created.key.hash
    sealed = store.encrypt(created.plaintext, new_hash)

    async def record(session: AsyncSession) -> None:
        now = r.now()
        row = await session.get(UserKey, entry.old_key_id, populate_existing=True)
        assert row is not None
        row.status = "ROTATED"
        row.encrypted_key = None
        row.updated_at = now
        await session.flush()  # out of the one-live-key index before the new key comes in
        session.add(
            UserKey(
                key_id=new_id(now),
                strategy_id=row.strategy_id,
                holder_wallet=row.holder_wallet,
                openrouter_key_hash=new_hash,
                key_name=name,
                encrypted_key=sealed,
                limit_usd_cents=entry.limit_usd_cents,
                limit_reset=row.limit_reset,
                total_allocated_cents=entry.limit_usd_cents,
                status="ACTIVE",
                created_at=now,
                updated_at=now,
                expires_at=row.expires_at,
            )
        )
        await session.flush()
        found = await session.get(KeyRotation, entry.id, populate_existing=True)
        assert found is not None
        found.status = CREATED
        found.new_key_hash = new_hash
        found.error = None
        found.updated_at = now

    await r.journal(record)


async def _delete_unrecorded(r: Rotator, entry: KeyRotation, name: str) -> None:
    """Delete keys carrying this entry's name that nobody recorded: an earlier attempt's
    create went through but its answer (and so its plaintext) was lost."""
    port = r.keys
    listed = await r.guard.call("openrouter", port.list_keys, what="GET /keys")
    for key in listed:
        if key.name != name:
            continue
        async with r.ctx.db.read() as session:
            if await keys.by_hash(session, key.hash) is not None:
                continue
        await r.guard.call("openrouter", partial(port.delete_key, key.hash), what="DELETE /keys/:h")
        get_logger().warning(
            "Deleted a key an interrupted rotation created and never recorded",
            rotationId=entry.id,
            keyHash=key.hash,
        )


async def _delete_old(r: Rotator, entry: KeyRotation) -> None:
    port = r.keys
    await r.guard.call(
        "openrouter", lambda: port.delete_key(entry.old_key_hash), what="DELETE /keys/:h"
    )  # False when it was gone already: deleted all the same
    await _advance(r, entry.id, DONE)
    get_logger().info(
        "Key rotated" if entry.kind == ROTATE else "Key revoked",
        rotationId=entry.id,
        wallet=entry.holder_wallet,
        oldKeyHash=entry.old_key_hash,
        newKeyHash=entry.new_key_hash,
    )


async def finish_unfinished(
    r: Rotator, strategy_id: str | None, wallet: str | None = None
) -> list[KeyRotation]:
    """Finish every entry an earlier attempt left (call it holding the strategy's lock)."""
    async with r.ctx.db.read() as session:
        left = [e.id for e in await unfinished(session, strategy_id, wallet)]
    return [await carry_on(r, entry_id, recovering=True) for entry_id in left]


# --- rotating one key --------------------------------------------------------------------------


async def _check_rotatable(r: Rotator, key: UserKey) -> OpenRouterKey:
    """Refuse (409, nothing changed) a key whose new allowance could not be decided."""
    async with r.ctx.db.read() as session:
        pending = await mutations.pending_for_holder(
            session, key.strategy_id or "", key.holder_wallet
        )
    if pending:
        raise Conflict(
            f"A top-up of run {pending[0].run_id} on this holder's key is not settled yet; "
            "resume that run (or let the next run settle it) before rotating"
        )
    port = r.keys
    remote = await r.guard.call(
        "openrouter", lambda: port.get_key(key.openrouter_key_hash), what="GET /keys/:h"
    )
    if remote is None or remote.disabled:
        state = "missing" if remote is None else "disabled"
        raise Conflict(
            f"The key is {state} on OpenRouter; the next run of its strategy gives the holder "
            "a fresh key"
        )
    if remote.limit is None:
        raise Conflict("The key has no spending limit on OpenRouter; it is not ours to rotate")
    if remote.expires_at is not None and remote.expires_at <= r.now():
        raise Conflict(
            "The key has expired; the next run of its strategy gives the holder a new one"
        )
    return remote


def _rotated(entry: KeyRotation, old: UserKey) -> Rotated:
    assert entry.new_key_hash is not None and entry.limit_usd_cents is not None
    return Rotated(
        wallet=entry.holder_wallet,
        old_hash=entry.old_key_hash,
        new_hash=entry.new_key_hash,
        spending_limit_usd=Decimal(entry.limit_usd_cents) / 100,
        limit_reset=old.limit_reset,
        expires_at=old.expires_at,
        rotation_id=entry.id,
    )


async def rotate_key(r: Rotator, key: UserKey, reason: str) -> Rotated:
    """Rotate one live key (the caller holds its strategy's lock)."""
    await _check_rotatable(r, key)
    entry_id = await _begin(r, key, ROTATE, reason)
    entry = await carry_on(r, entry_id, recovering=False)
    if entry.new_key_hash is None:  # abandoned: the old key vanished meanwhile
        raise Conflict(f"The rotation was abandoned: {entry.error}")
    return _rotated(entry, key)


async def _newest_live(ctx: Context, wallet: str) -> UserKey:
    async with ctx.db.read() as session:
        key = await keys.newest_live_for_wallet(session, wallet)
    if key is None:
        raise NotFound(NO_KEY)
    return key


async def rotate_wallet(
    ctx: Context, wallet: str, trigger: str = "api", *, key_hash: str | None = None
) -> Rotated:
    """Rotate the wallet's newest live key (or its live key `key_hash`) now."""
    policy.key_mutation(ctx.settings)
    _required_store(ctx)
    key = await _live_key(ctx, wallet, key_hash)
    async with holding(ctx, key.strategy_id) as journal:
        r = rotator(ctx, journal, trigger)
        done = await finish_unfinished(r, key.strategy_id, wallet)
        # A rotation of this key that an earlier attempt left is this request's rotation.
        for entry in done:
            if entry.kind == ROTATE and entry.old_key_id == key.key_id and entry.new_key_hash:
                return _rotated(entry, key)
        key = await _live_key(ctx, wallet, key_hash)
        return await rotate_key(r, key, f"on demand ({trigger})")


async def _live_key(ctx: Context, wallet: str, key_hash: str | None) -> UserKey:
    if key_hash is None:
        return await _newest_live(ctx, wallet)
    async with ctx.db.read() as session:
        key = await keys.by_hash(session, key_hash)
    if key is None or key.status not in LIVE_KEY_STATUSES:
        raise NotFound("Key not found")
    return key


async def rotate_hash(ctx: Context, key_hash: str, trigger: str = "api") -> Rotated:
    """Rotate a live key by its OpenRouter hash."""
    policy.key_mutation(ctx.settings)
    _required_store(ctx)
    async with ctx.db.read() as session:
        key = await keys.by_hash(session, key_hash)
    if key is None or key.status not in LIVE_KEY_STATUSES:
        raise NotFound("Key not found")
    return await rotate_wallet(ctx, key.holder_wallet, trigger, key_hash=key_hash)


# --- revoking ----------------------------------------------------------------------------------


async def revoke_key(ctx: Context, key: UserKey, trigger: str) -> Revoked:
    """Disable, then delete, a live key; the wallet is free for a new key at once."""
    policy.key_mutation(ctx.settings)
    async with holding(ctx, key.strategy_id) as journal:
        r = rotator(ctx, journal, trigger)
        await finish_unfinished(r, key.strategy_id, key.holder_wallet)
        async with ctx.db.read() as session:
            row = await session.get(UserKey, key.key_id, populate_existing=True)
        if row is None or row.status not in LIVE_KEY_STATUSES:
            # Finished above (a revocation an earlier attempt left), or gone: nothing to do.
            if row is not None and row.status == "REVOKED":
                return Revoked(wallet=row.holder_wallet, hash=row.openrouter_key_hash)
            raise NotFound("Key not found")
        entry_id = await _begin(r, row, REVOKE, f"revoked ({trigger})")
        await carry_on(r, entry_id, recovering=False)
    return Revoked(wallet=key.holder_wallet, hash=key.openrouter_key_hash)


async def revoke_wallet(ctx: Context, wallet: str, trigger: str = "api") -> Revoked:
    """Revoke the wallet's newest live key (or finish a revocation of it a crash left)."""
    policy.key_mutation(ctx.settings)
    async with ctx.db.read() as session:
        key = await keys.newest_live_for_wallet(session, wallet)
        left = await session.scalars(
            select(KeyRotation).where(
                KeyRotation.holder_wallet == wallet,
                KeyRotation.kind == REVOKE,
                KeyRotation.status != DONE,
            )
        )
        interrupted = left.first()
    if key is not None:
        return await revoke_key(ctx, key, trigger)
    if interrupted is not None:
        return await _finish_revocation(ctx, interrupted, trigger)
    raise NotFound(NO_KEY)


async def revoke_hash(ctx: Context, key_hash: str, trigger: str = "api") -> Revoked:
    """Revoke a live key by its OpenRouter hash (or finish a revocation of it a crash left)."""
    policy.key_mutation(ctx.settings)
    async with ctx.db.read() as session:
        key = await keys.by_hash(session, key_hash)
        interrupted = await session.scalar(
            select(KeyRotation).where(
                KeyRotation.old_key_hash == key_hash,
                KeyRotation.kind == REVOKE,
                KeyRotation.status != DONE,
            )
        )
    if key is not None and key.status in LIVE_KEY_STATUSES:
        return await revoke_key(ctx, key, trigger)
    if interrupted is not None:
        return await _finish_revocation(ctx, interrupted, trigger)
    raise NotFound("Key not found")


async def _finish_revocation(ctx: Context, entry: KeyRotation, trigger: str) -> Revoked:
    async with holding(ctx, entry.strategy_id) as journal:
        await finish_unfinished(
            rotator(ctx, journal, trigger), entry.strategy_id, entry.holder_wallet
        )
    return Revoked(wallet=entry.holder_wallet, hash=entry.old_key_hash)


# --- the daily job -------------------------------------------------------------------------------


async def _due(ctx: Context, cutoff: datetime) -> dict[str | None, list[UserKey]]:
    """Live keys created at or before `cutoff`, and strategies with unfinished entries."""
    async with ctx.db.read() as session:
        old = await session.scalars(
            select(UserKey)
            .where(UserKey.status.in_(LIVE_KEY_STATUSES), UserKey.created_at <= cutoff)
            .order_by(UserKey.created_at, UserKey.key_id)
        )
        left = await session.scalars(
            select(KeyRotation.strategy_id).where(KeyRotation.status != DONE).distinct()
        )
        due: dict[str | None, list[UserKey]] = {sid: [] for sid in left}
        for key in old:
            due.setdefault(key.strategy_id, []).append(key)
    return due


async def rotate_due(ctx: Context) -> dict[str, Any]:
    """Rotate every live key older than KEY_ROTATION_DAYS and finish unfinished rotations."""
    log = get_logger(job="credits-key-rotation")
    try:
        policy.key_mutation(ctx.settings)
        _required_store(ctx)
    except AppError as exc:
        log.info("Key rotation skipped", reason=exc.message)
        return {"rotated": 0, "finished": 0, "failed": {}, "skipped": {"*": exc.message}}
    now = ctx.clock.now()
    cutoff = now - timedelta(days=ctx.settings.key_rotation_days)
    reason = f"scheduled: older than KEY_ROTATION_DAYS ({ctx.settings.key_rotation_days})"
    rotated = finished = 0
    failed: dict[str, str] = {}
    skipped: dict[str, str] = {}
    for strategy_id, due in (await _due(ctx, cutoff)).items():
        try:
            async with holding(ctx, strategy_id) as journal:
                r = rotator(ctx, journal, "scheduler")
                finished += len(await finish_unfinished(r, strategy_id))
                for key in due:
                    try:
                        await rotate_key(r, key, reason)
                        rotated += 1
                    except (AppError, UpstreamError) as exc:
                        failed[key.holder_wallet] = getattr(exc, "message", None) or str(exc)
                        log.warning("Key not rotated", wallet=key.holder_wallet, err=exc)
        except RunInProgress:
            skipped[strategy_id or "-"] = "a run is in progress; tomorrow's job rotates them"
        except UpstreamError as exc:
            skipped[strategy_id or "-"] = f"an unfinished rotation could not be finished: {exc}"
            log.warning("Unfinished key rotation not finished", strategyId=strategy_id, err=exc)
    result = {"rotated": rotated, "finished": finished, "failed": failed, "skipped": skipped}
    log.info("Key rotation done", **result)
    return result
