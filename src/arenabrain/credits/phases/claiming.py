"""CLAIMING: claim the owner's Bags fee positions, one token mint at a time.

1. PARTNER_FEES is not implemented: the phase fails with NOT_IMPLEMENTED instead of silently
   claiming something else.
2. Signatures recorded by an earlier attempt of this run are checked on chain first:
   confirmed ones count, failed or expired ones (the chain is past their last valid block
   height) mean their mint is fetched and claimed again.
3. Positions are grouped by token mint: `claim-txs/v3` is keyed by mint and answers the
   transactions of every position of that token (a pool position and a custom fee vault), so
   claims are requested once per mint and a mint's positions are selected together.
   Threshold: the claimable total must reach the strategy's threshold (a total equal to it
   claims). MAX_CLAIMABLE_SOL_PER_RUN caps the run: mints are taken largest first (ties by
   mint) while they fit under the cap; one that does not fit is left for a later run.
4. Each claim transaction is signed, recorded in `claim_transactions` (signature and last
   valid block height) before it is sent, then sent and confirmed; its confirmation is
   recorded at once. A crash at any point loses nothing and a resume never claims twice.
   After a send whose outcome is not a clear rejection (a lost answer, a 5xx, "already
   processed"), the recorded signature's status on chain decides (`phases.sending`).
5. What the run credits is what its confirmed claim transactions moved to the claimer,
   measured on chain (each transaction's meta: balance change plus the fee the claimer paid,
   `SolanaPort.lamports_received`), not Bags' listed figure; `lamports_expected` keeps that
   figure (on a set's last transaction) for comparison only. The fees the claimer pays are
   the treasury's cost, as for every transaction it signs.

DRY_RUN: positions are read and the selection is computed and audited; no claim transaction
is requested, signed or sent.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from arenabrain.clients.bags import ClaimablePosition
from arenabrain.clients.bags import ClaimTransaction as ClaimTransactionPort
from arenabrain.clients.solana import LAMPORTS_PER_SOL
from arenabrain.credits import audit
from arenabrain.credits.models import ClaimTransaction as ClaimRow
from arenabrain.credits.phases.base import (
    PhaseContext,
    PhaseFailure,
    PhaseOutcome,
    confirmation,
)
from arenabrain.credits.phases.sending import send_signed
from arenabrain.db.ids import new_id

CONFIRMED = ("confirmed", "finalized")
OPEN = ("pending", "sent")
STALE = "stale"
EXPIRED_NOTE = "expired: never landed before its last valid block height"
NOT_SENT = "not sent: an earlier transaction of its set did not land"
ATTEMPTS_PER_MINT = 2


@dataclass(frozen=True)
class MintClaim:
    """Every claimable position of one token: one `claim-txs/v3` request claims them all."""

    mint: str
    positions: tuple[ClaimablePosition, ...]

    @property
    def lamports(self) -> int:
        return sum(p.claimable_lamports for p in self.positions)


@dataclass(frozen=True)
class Selection:
    chosen: tuple[MintClaim, ...]
    left_for_later: tuple[MintClaim, ...]  # did not fit under the cap

    @property
    def lamports(self) -> int:
        return sum(c.lamports for c in self.chosen)


def by_mint(positions: Sequence[ClaimablePosition]) -> list[MintClaim]:
    """The positions with something to claim, grouped by token mint (in first-seen order)."""
    groups: dict[str, list[ClaimablePosition]] = {}
    for position in positions:
        if position.claimable_lamports > 0:
            groups.setdefault(position.base_mint, []).append(position)
    return [MintClaim(mint, tuple(group)) for mint, group in groups.items()]


def select_claims(positions: Sequence[ClaimablePosition], cap_lamports: int) -> Selection:
    """Greedy under the cap over mints (a mint's positions are claimed together): largest
    first (ties by mint), skipping any that would pass it."""
    chosen: list[MintClaim] = []
    later: list[MintClaim] = []
    room = max(0, cap_lamports)
    for claim in sorted(by_mint(positions), key=lambda c: (-c.lamports, c.mint)):
        if claim.lamports <= room:
            chosen.append(claim)
            room -= claim.lamports
        else:
            later.append(claim)
    return Selection(tuple(chosen), tuple(later))


def sol(lamports: int) -> str:
    return f"{lamports / LAMPORTS_PER_SOL:.9f}".rstrip("0").rstrip(".")


async def claim_rows(session: AsyncSession, run_id: str) -> list[ClaimRow]:
    rows = await session.scalars(
        select(ClaimRow)
        .where(ClaimRow.run_id == run_id)
        .order_by(ClaimRow.created_at, ClaimRow.position_key, ClaimRow.tx_index)
        .execution_options(populate_existing=True)
    )
    return list(rows)


async def claiming(pc: PhaseContext) -> PhaseOutcome:
    strategy = pc.strategy
    if strategy.source == "PARTNER_FEES":
        raise PhaseFailure(
            "NOT_IMPLEMENTED",
            "Fee source PARTNER_FEES is not implemented yet; set the strategy's source to "
            "CLAIMABLE_POSITIONS",
        )
    owner = strategy.owner_wallet
    bags = pc.clients.bags
    cap = int(pc.ctx.settings.max_claimable_sol_per_run * LAMPORTS_PER_SOL)

    if not pc.dry_run:
        await reconcile(pc)
    async with pc.ctx.db.read() as session:
        rows = await claim_rows(session, pc.run_id)
    confirmed = [r for r in rows if r.status == "confirmed"]
    already = await measured(pc, confirmed)
    done_mints = finished_mints(rows)

    positions = await pc.guard.call(
        "bags", lambda: bags.claimable_positions(owner), what="claimable positions"
    )
    open_positions = [p for p in positions if p.base_mint not in done_mints]
    total = sum(p.claimable_lamports for p in open_positions if p.claimable_lamports > 0)
    threshold = strategy.min_claim_threshold_lamports
    base = {"positionCount": len(positions), "claimableSol": sol(total)}
    if not rows:
        if total == 0:
            return _result(0, None, {**base, "skipped": True, "reason": "no-positions"})
        if total < threshold:
            return _result(
                0,
                None,
                {
                    **base,
                    "skipped": True,
                    "reason": "below-threshold",
                    "thresholdSol": sol(threshold),
                },
            )
    selection = select_claims(open_positions, cap - already)
    base |= {
        "maxClaimableSol": sol(cap),
        "positionsSelected": [c.mint for c in selection.chosen],
        "positionsLeftForLaterRuns": [c.mint for c in selection.left_for_later],
    }
    if pc.dry_run:
        return _result(
            selection.lamports,
            None,
            {**base, "dryRun": True, "wouldClaimSol": sol(selection.lamports)},
        )

    signer = pc.clients.signer
    if signer is None:
        raise PhaseFailure(
            "DEPENDENCY_NOT_CONFIGURED", "SIGNER_PRIVATE_KEY is not set; live claiming needs it"
        )
    if signer.public_key != owner:
        raise PhaseFailure(
            "SIGNER_MISMATCH",
            f"SIGNER_PRIVATE_KEY signs for {signer.public_key}, but the strategy's owner wallet "
            f"(the fee claimer) is {owner}",
        )
    attempts = {r.position_key for r in rows}
    sent = 0
    empty: list[str] = []
    for claim in selection.chosen:
        count = await claim_mint(pc, claim, attempts)
        if count == 0:
            empty.append(claim.mint)
        sent += count

    async with pc.ctx.db.read() as session:
        rows = await claim_rows(session, pc.run_id)
    confirmed = [r for r in rows if r.status == "confirmed"]
    claimed = await measured(pc, confirmed)
    last = confirmed[-1].signature if confirmed else None
    details = {
        **base,
        "claimedSol": sol(claimed),
        "listedSol": sol(selection.lamports),
        "transactionsSent": sent,
        "transactionsConfirmed": len(confirmed),
        "positionsWithoutTransactions": empty,
    }
    return _result(claimed, last, details)


def finished_mints(rows: Sequence[ClaimRow]) -> set[str]:
    """Mints an earlier attempt of this run claimed completely (every transaction of one of
    its sets confirmed). A set confirmed only in part leaves its mint open: Bags reports the
    rest, and each confirmed transaction is counted by what it moved."""
    sets: dict[str, list[str]] = {}
    for row in rows:
        sets.setdefault(row.position_key, []).append(row.status)
    return {_mint(key) for key, states in sets.items() if all(s == "confirmed" for s in states)}


async def measured(pc: PhaseContext, confirmed: Sequence[ClaimRow]) -> int:
    """What these confirmed claim transactions moved to the claimer, read from the chain."""
    solana = pc.clients.solana
    owner = pc.strategy.owner_wallet
    total = 0
    for row in confirmed:
        signature = row.signature
        assert signature is not None
        total += await pc.guard.call(
            "solana",
            lambda s=signature: solana.lamports_received(s, owner),  # type: ignore[misc]
            what="claim transaction",
        )
    return max(0, total)


async def claim_mint(pc: PhaseContext, claim: MintClaim, attempts: set[str]) -> int:
    """Claim every position of one mint with one request; a stale transaction set (expired
    blockhash) is fetched afresh once. Returns how many transactions were sent (0: Bags
    returned none)."""
    owner = pc.strategy.owner_wallet
    bags = pc.clients.bags
    sent = 0
    for _ in range(ATTEMPTS_PER_MINT):
        txs = await pc.guard.call(
            "bags",
            lambda: bags.claim_transactions(owner, claim.mint),
            what="claim transactions",
        )
        # A byte-identical transaction would land once at most: send each distinct one.
        txs = list({tx.tx_base58: tx for tx in txs}.values())
        if not txs:
            return sent
        key = _position_key(claim.mint, attempts)
        attempts.add(key)
        row_ids = await record_set(pc, key, txs, claim.lamports)
        stale = False
        for index, (tx, (row_id, wire, signature)) in enumerate(zip(txs, row_ids, strict=True)):
            try:
                outcome = await claim_one(
                    pc, row_id, key, index, wire, signature, tx.last_valid_block_height
                )
            except Exception:
                await unsent(pc, [r for r, _, _ in row_ids[index + 1 :]])
                raise
            sent += 1
            if outcome == STALE:
                await unsent(pc, [r for r, _, _ in row_ids[index + 1 :]])
                stale = True
                break
        if not stale:
            return sent
    raise PhaseFailure(
        "CLAIM_TX_EXPIRED",
        f"Claim transactions for token {claim.mint} expired {ATTEMPTS_PER_MINT} times before "
        "landing; resume the run to try again",
    )


async def record_set(
    pc: PhaseContext, position_key: str, txs: Sequence[ClaimTransactionPort], total: int
) -> list[tuple[str, bytes, str]]:
    """Sign every transaction of a mint's set and record them all before sending any, so the
    set's listed total (on its last transaction) survives a crash mid-set.

    Returns (row id, wire bytes, signature) per transaction."""
    signer = pc.clients.signer
    assert signer is not None
    signed = []
    for index, tx in enumerate(txs):
        wire, signature = signer.sign_claim(tx.tx_base58)
        signed.append((new_id(pc.now()), wire, signature, index, tx.last_valid_block_height))

    async def record(session: AsyncSession) -> None:
        for row_id, _, signature, index, lvbh in signed:
            session.add(
                ClaimRow(
                    id=row_id,
                    run_id=pc.run_id,
                    strategy_id=pc.strategy.strategy_id,
                    position_key=position_key,
                    tx_index=index,
                    signature=signature,
                    last_valid_block_height=lvbh,
                    lamports_expected=total if index == len(signed) - 1 else 0,
                    status="pending",
                    created_at=pc.now(),
                )
            )

    await pc.journal(record)
    return [(row_id, wire, signature) for row_id, wire, signature, _, _ in signed]


async def unsent(pc: PhaseContext, row_ids: list[str]) -> None:
    """Transactions of a set that were never sent (an earlier one did not land)."""
    if not row_ids:
        return

    async def mark(session: AsyncSession) -> None:
        for row_id in row_ids:
            await _set_status(session, row_id, "failed", pc.now(), NOT_SENT)

    await pc.journal(mark)


async def claim_one(
    pc: PhaseContext,
    row_id: str,
    position_key: str,
    index: int,
    wire: bytes,
    signature: str,
    lvbh: int,
) -> str:
    """Send and confirm one recorded claim transaction, recording each step at once.

    Returns "confirmed", or STALE when it can never land (blockhash not found or expired),
    so the mint's transactions are fetched again; raises PhaseFailure otherwise. Only a clear
    rejection fails it from the send's answer; otherwise its status on chain decides."""
    sending = await send_signed(pc, "CLAIM", wire)
    if sending.state == "rejected":
        if sending.stale:
            await pc.journal(lambda s: _set_status(s, row_id, "failed", pc.now(), "stale"))
            return STALE
        reason = str(sending.error)
        await pc.journal(lambda s: _set_status(s, row_id, "failed", pc.now(), reason))
        raise PhaseFailure(
            "CLAIM_TX_FAILED",
            f"Claim failed at position {position_key} tx {index}: {sending.error}",
        ) from sending.error
    await pc.journal(lambda s: _set_status(s, row_id, "sent", pc.now()))
    status = await confirmation(pc, "CLAIM", signature, lvbh)
    if expired(status.state, status.error):
        await pc.journal(lambda s: _set_status(s, row_id, "failed", pc.now(), EXPIRED_NOTE))
        return STALE
    await settle(pc, row_id, position_key, index, signature, status.state, status.error)
    return "confirmed"


def expired(state: str, error: str | None) -> bool:
    """`confirm()` reports a transaction that can never land as unknown + "expired..."."""
    return state == "unknown" and (error or "").lower().startswith("expired")


async def settle(
    pc: PhaseContext,
    row_id: str,
    position_key: str,
    index: int,
    signature: str,
    state: str,
    error: str | None,
) -> None:
    """Record a confirmation outcome; raise PhaseFailure unless the transaction confirmed."""
    if state in CONFIRMED:

        async def confirmed(session: AsyncSession) -> None:
            await _set_status(session, row_id, "confirmed", pc.now())
            await audit.record(
                session,
                pc.run_id,
                "CLAIMING",
                "claim:confirmed",
                pc.now(),
                {"position": position_key, "txIndex": index},
                tx_signature=signature,
            )

        await pc.journal(confirmed)
        return
    if state == "failed":
        reason = error or "failed on chain"
        await pc.journal(lambda s: _set_status(s, row_id, "failed", pc.now(), reason))
        raise PhaseFailure(
            "CLAIM_TX_FAILED",
            f"Claim failed at position {position_key} tx {index}: {error or 'failed on chain'}",
        )
    raise PhaseFailure(
        "CLAIM_TX_UNCONFIRMED",
        f"Claim transaction {signature} (position {position_key}) was not confirmed; "
        "resume the run to check it again",
    )


async def reconcile(pc: PhaseContext) -> None:
    """Check every recorded, unsettled signature of this run on chain before claiming again."""
    async with pc.ctx.db.read() as session:
        rows = [r for r in await claim_rows(session, pc.run_id) if r.status in OPEN]
    if not rows:
        return
    solana = pc.clients.solana
    signatures = [r.signature for r in rows if r.signature]
    statuses = await pc.guard.call(
        "solana", lambda: solana.signature_statuses(signatures), what="signature statuses"
    )
    by_signature = {s.signature: s for s in statuses}
    height: int | None = None
    for row in rows:
        assert row.signature is not None
        status = by_signature.get(row.signature)
        state = status.state if status else "unknown"
        error = status.error if status else None
        if state in ("unknown", "processed"):
            if height is None:
                height = await pc.guard.call("solana", solana.block_height, what="block height")
            if row.last_valid_block_height is not None and height > row.last_valid_block_height:
                await pc.journal(
                    lambda s, r=row: _set_status(  # type: ignore[misc]
                        s,
                        r.id,
                        "failed",
                        pc.now(),
                        EXPIRED_NOTE,
                    )
                )
                continue
            confirmed = await confirmation(
                pc, "CLAIM", row.signature, row.last_valid_block_height or 0
            )
            state, error = confirmed.state, confirmed.error
            if expired(state, error):
                await pc.journal(
                    lambda s, r=row: _set_status(  # type: ignore[misc]
                        s, r.id, "failed", pc.now(), EXPIRED_NOTE
                    )
                )
                continue
            if state in ("unknown", "processed"):
                raise PhaseFailure(
                    "CLAIM_TX_UNCONFIRMED",
                    f"Claim transaction {row.signature} is still unconfirmed; resume again later",
                )
        if state in CONFIRMED:
            await settle(pc, row.id, row.position_key, row.tx_index, row.signature, state, None)
        else:
            reason = error or "failed on chain"
            await pc.journal(
                lambda s, r=row, e=reason: _set_status(s, r.id, "failed", pc.now(), e)  # type: ignore[misc]
            )


async def _set_status(
    session: AsyncSession, row_id: str, status: str, now: datetime, error: str | None = None
) -> None:
    row = await session.get(ClaimRow, row_id)
    assert row is not None
    row.status = status
    if error is not None:
        row.error = error
    if status == "confirmed":
        row.confirmed_at = now


def _position_key(mint: str, used: set[str]) -> str:
    if mint not in used:
        return mint
    attempt = 2
    while f"{mint}#{attempt}" in used:
        attempt += 1
    return f"{mint}#{attempt}"


def _mint(position_key: str) -> str:
    return position_key.split("#", 1)[0]


def _result(lamports: int, signature: str | None, details: dict[str, object]) -> PhaseOutcome:
    return PhaseOutcome(
        checkpoint={"claimed_lamports": lamports, "claimed_tx_sig": signature},
        details={"claimedLamports": lamports, "claimedTxSignature": signature, **details},
        tx_signature=signature,
    )
