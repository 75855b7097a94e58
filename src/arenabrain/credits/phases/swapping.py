"""SWAPPING: swap the claimed SOL to USDC through Bags, once.

The quote uses the strategy's slippage and the signer's public key (the anchor sent an empty
one, B6); a price impact above the strategy's maximum fails the phase. The swap transaction is
signed, its signature is recorded on the run, and only then is it sent and confirmed. What the
next phases receive is **what the confirmed swap transaction itself moved** to the signer's
USDC accounts (its meta's token balances, `SolanaPort.token_received`), not the quote (B24) and
not the wallet's balance change around it: the wallet lock is released when a run fails, so
another run on the same wallet may swap before this one resumes, and a balance change would
count its USDC too. The recorded signature's status on chain decides whether the swap happened:
after a send whose outcome is not a clear rejection (a lost answer, a 5xx, "already
processed", see `phases.sending`) the signature is kept and confirmed, never cleared, so a
swap that landed is never swapped again. A resume with a recorded signature checks it on chain
first: confirmed means the swap happened (only what it moved is measured), failed or expired
means it never did and a fresh quote is swapped.

DRY_RUN: the quote is fetched and its output carried forward as what would be received;
nothing is signed or sent."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from arenabrain.clients.bags import SwapQuote
from arenabrain.clients.solana import USDC_MINT, WSOL_MINT
from arenabrain.credits.models import Run
from arenabrain.credits.phases.base import (
    PhaseContext,
    PhaseFailure,
    PhaseOutcome,
    confirmation,
)
from arenabrain.credits.phases.sending import send_signed

CONFIRMED = ("confirmed", "finalized")
ATTEMPTS = 2


def usdc(base_units: int) -> str:
    return f"{Decimal(base_units) / 10**6:.6f}"


def impact_bps(quote: SwapQuote) -> Decimal:
    """Bags' priceImpactPct is a percentage: "0.5" is 50 bps."""
    return quote.price_impact_pct * 100


def quote_snapshot(quote: SwapQuote, **extra: Any) -> str:
    return json.dumps(
        {
            "requestId": quote.request_id,
            "inAmount": str(quote.in_amount),
            "outAmount": str(quote.out_amount),
            "minOutAmount": str(quote.min_out_amount),
            "priceImpactPct": str(quote.price_impact_pct),
            "slippageBps": quote.slippage_bps,
            **extra,
        },
        sort_keys=True,
    )


async def swapping(pc: PhaseContext) -> PhaseOutcome:
    claimed = pc.run.claimed_lamports or 0
    if claimed <= 0:
        return PhaseOutcome(
            checkpoint={"swapped_usdc_base_units": 0},
            details={"swappedUsdc": "0", "skipped": True, "reason": "no-claimed-sol"},
        )
    if pc.dry_run:
        quote = await get_quote(pc, claimed)
        return PhaseOutcome(
            checkpoint={
                "swapped_usdc_base_units": quote.out_amount,
                "swap_quote_snapshot": quote_snapshot(quote, dryRun=True),
            },
            details={
                "dryRun": True,
                "wouldSwapLamports": claimed,
                "quotedUsdc": usdc(quote.out_amount),
                "swappedUsdc": usdc(quote.out_amount),
            },
        )
    signer = pc.clients.signer
    if signer is None:
        raise PhaseFailure(
            "DEPENDENCY_NOT_CONFIGURED", "SIGNER_PRIVATE_KEY is not set; live swapping needs it"
        )
    if pc.run.swap_tx_sig:
        done = await recorded_swap(pc)
        if done is not None:
            return done
    return await swap_now(pc, claimed)


async def get_quote(pc: PhaseContext, lamports: int) -> SwapQuote:
    bags = pc.clients.bags
    slippage = pc.strategy.swap_slippage_bps
    quote = await pc.guard.call(
        "bags",
        lambda: bags.trade_quote(WSOL_MINT, USDC_MINT, lamports, slippage),
        what="trade quote",
    )
    limit = pc.strategy.swap_max_price_impact_bps
    if impact_bps(quote) > limit:
        raise PhaseFailure(
            "SWAP_PRICE_IMPACT",
            f"Price impact {impact_bps(quote):f} bps exceeds max {limit} bps",
        )
    return quote


async def swap_now(pc: PhaseContext, lamports: int) -> PhaseOutcome:
    """Quote, sign, record, send and confirm the swap; a transaction whose blockhash went
    stale before it landed is replaced once by a fresh quote and transaction."""
    for _ in range(ATTEMPTS):
        outcome = await swap_once(pc, lamports)
        if outcome is not None:
            return outcome
    raise PhaseFailure(
        "SWAP_TX_EXPIRED",
        f"The swap transaction expired {ATTEMPTS} times before landing; resume the run to "
        "swap with a fresh quote",
    )


async def swap_once(pc: PhaseContext, lamports: int) -> PhaseOutcome | None:
    """One swap attempt: its outcome, or None when it can no longer land (stale blockhash)."""
    signer = pc.clients.signer
    assert signer is not None
    quote = await get_quote(pc, lamports)
    owner = signer.public_key
    swap = await pc.guard.call(
        "bags", lambda: pc.clients.bags.swap_transaction(quote, owner), what="swap transaction"
    )
    wire, signature = signer.sign_swap(swap.tx_base58)
    snapshot = quote_snapshot(quote, lastValidBlockHeight=swap.last_valid_block_height)
    await pc.journal(lambda s: _record(s, pc.run_id, signature, snapshot))
    sending = await send_signed(pc, "SWAP", wire)
    if sending.state == "rejected":  # refused before it could land: no swap happened
        await pc.journal(lambda s: _record(s, pc.run_id, None, snapshot))
        if sending.stale:
            return None
        raise PhaseFailure("SWAP_TX_FAILED", f"Swap failed: {sending.error}") from sending.error
    # Sent, or perhaps sent: the signature stays recorded and its status decides.
    status = await confirmation(pc, "SWAP", signature, swap.last_valid_block_height)
    if status.state in CONFIRMED:
        return await measured(pc, signature, quote.out_amount)
    if status.state == "failed":
        await pc.journal(lambda s: _record(s, pc.run_id, None, snapshot))
        raise PhaseFailure("SWAP_TX_FAILED", f"Swap failed: {status.error or 'failed on chain'}")
    if (status.error or "").lower().startswith("expired"):
        await pc.journal(lambda s: _record(s, pc.run_id, None, snapshot))
        return None
    raise PhaseFailure(
        "SWAP_TX_UNCONFIRMED",
        f"Swap transaction {signature} was not confirmed; resume the run to check it again",
    )


async def recorded_swap(pc: PhaseContext) -> PhaseOutcome | None:
    """Settle a swap signed by an earlier attempt: its outcome, or None to swap afresh."""
    signature = pc.run.swap_tx_sig
    assert signature is not None
    snapshot = json.loads(pc.run.swap_quote_snapshot or "{}")
    lvbh = int(snapshot.get("lastValidBlockHeight", 0))
    quoted = int(snapshot.get("outAmount", 0))
    solana = pc.clients.solana
    statuses = await pc.guard.call(
        "solana", lambda: solana.signature_statuses([signature]), what="signature statuses"
    )
    state = statuses[0].state if statuses else "unknown"
    if state in ("unknown", "processed"):
        height = await pc.guard.call("solana", solana.block_height, what="block height")
        if height <= lvbh:
            status = await confirmation(pc, "SWAP", signature, lvbh)
            state = status.state
            expired = (status.error or "").lower().startswith("expired")
            if state in ("unknown", "processed") and not expired:
                raise PhaseFailure(
                    "SWAP_TX_UNCONFIRMED",
                    f"Swap transaction {signature} is still unconfirmed; resume again later",
                )
    if state in CONFIRMED:
        return await measured(pc, signature, quoted)
    await pc.journal(lambda s: _record(s, pc.run_id, None, pc.run.swap_quote_snapshot))
    return None


async def measured(pc: PhaseContext, signature: str, quoted: int) -> PhaseOutcome:
    """What the confirmed swap transaction moved to the signer's USDC accounts, read from it."""
    signer = pc.clients.signer
    assert signer is not None
    solana = pc.clients.solana
    owner = signer.public_key
    received = await pc.guard.call(
        "solana",
        lambda: solana.token_received(signature, owner, USDC_MINT),
        what="swap transaction",
    )
    details: dict[str, Any] = {
        "swapTxSignature": signature,
        "quotedUsdc": usdc(quoted),
        "swappedUsdc": usdc(max(0, received)),
    }
    if received <= 0:
        details["warning"] = "the swap moved no USDC to the signer; nothing is carried forward"
    return PhaseOutcome(
        checkpoint={"swapped_usdc_base_units": max(0, received), "swap_tx_sig": signature},
        details=details,
        tx_signature=signature,
    )


async def _record(
    session: AsyncSession, run_id: str, signature: str | None, snapshot: str | None
) -> None:
    run = await session.get(Run, run_id)
    assert run is not None
    run.swap_tx_sig = signature
    run.swap_quote_snapshot = snapshot
