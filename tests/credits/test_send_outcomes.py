"""Sends whose answer was lost, and claims of positions that share a mint, over the port fakes.

The rule under test: after a send whose outcome is not a clear rejection (a timeout, a 5xx, or
a refusal that follows one), the recorded signature's status on chain decides, and "already
processed" means sent. What a run credits for its claims is what the confirmed claim
transactions moved to the claimer, measured, requested once per mint."""

from __future__ import annotations

from decimal import Decimal

import pytest
from sqlalchemy import select

from arenabrain.credits import runs
from arenabrain.credits.locks import LOCK_TTL
from arenabrain.credits.models import ClaimTransaction
from tests.credits.conftest import make_strategy
from tests.credits.fakes import (
    FEE_MINT_A,
    FEE_MINT_B,
    OWNER,
    preflight,
    timed_out,
    transient,
)

SOL = 1_000_000_000
ONE_SWAP_USDC = 223_875_000  # 1.5 SOL at $150, less the fake's 0.5% shortfall


def lost_answers() -> list[pytest.param]:
    return [
        pytest.param(lambda: timed_out("solana", "sendTransaction"), id="timeout"),
        pytest.param(lambda: transient("solana", "sendTransaction answered 503"), id="503"),
        pytest.param(lambda: transient("solana", "sendTransaction answered 502"), id="502"),
    ]


async def claim_rows(ctx) -> list[ClaimTransaction]:
    async with ctx.db.read() as session:
        return list(await session.scalars(select(ClaimTransaction)))


@pytest.mark.parametrize("lost", lost_answers())
async def test_a_claim_whose_send_answer_is_lost_is_credited_once_and_the_run_completes(
    cctx, world, lost
) -> None:
    strategy = await make_strategy(cctx)
    # The first claim lands, its answer is lost; the retry is refused as already processed.
    world.solana.faults.lose_at("send_transaction", 1, lost())
    run = await runs.start_run(cctx, strategy.strategy_id, "api")
    assert run.state == "COMPLETE", run.error
    assert run.claimed_lamports == 1_500_000_000
    assert world.bags.claimable == {FEE_MINT_A: 0, FEE_MINT_B: 0}
    assert world.bags.faults.calls["claim_transactions"] == 2  # nothing fetched again
    assert world.chain.usdc[OWNER] == ONE_SWAP_USDC
    assert sorted(r.status for r in await claim_rows(cctx)) == ["confirmed", "confirmed"]


@pytest.mark.parametrize("lost", lost_answers())
async def test_a_swap_whose_send_answer_is_lost_is_not_swapped_again(cctx, world, lost) -> None:
    strategy = await make_strategy(cctx)
    world.solana.faults.lose_at("send_transaction", 3, lost())  # sends 1-2 claim, 3 swaps
    run = await runs.start_run(cctx, strategy.strategy_id, "api")
    assert run.state == "COMPLETE", run.error
    assert world.bags.faults.calls["trade_quote"] == 1
    assert world.chain.usdc[OWNER] == ONE_SWAP_USDC  # one swap landed
    assert run.swapped_usdc == Decimal(ONE_SWAP_USDC) / 10**6  # and it is counted once
    assert run.swap_tx_signature == "sig-swap-q3"


async def test_a_swap_whose_answer_is_lost_while_the_rpc_goes_down_is_settled_on_resume(
    make_ctx, world, clock
) -> None:
    ctx = await make_ctx()
    strategy = await make_strategy(ctx)
    faults = world.solana.faults
    faults.lose_at("send_transaction", 3, timed_out("solana"))  # the swap lands, unanswered
    for retry in (4, 5, 6):  # and the RPC is down for its retries and its confirmation
        faults.fail_at("send_transaction", retry, transient("solana"))
    faults.fail_at("confirm", 3, transient("solana"))
    failed = await runs.start_run(ctx, strategy.strategy_id, "api")
    assert (failed.state, failed.error.failed_state) == ("FAILED", "SWAPPING")
    assert failed.error.code == "SWAP_TX_UNCONFIRMED"
    assert failed.swap_tx_signature == "sig-swap-q3"  # kept: the chain decides on resume

    clock.advance(seconds=LOCK_TTL.total_seconds() + 120)  # past the breaker's cooldown
    resumed = await runs.resume_run(ctx, failed.run_id, "cli")
    assert resumed.state == "COMPLETE", resumed.error
    assert world.bags.faults.calls["trade_quote"] == 1  # not swapped again
    assert world.chain.usdc[OWNER] == ONE_SWAP_USDC
    assert resumed.swapped_usdc == Decimal(ONE_SWAP_USDC) / 10**6


async def test_a_recorded_swap_that_expired_unlanded_is_swapped_afresh_on_resume(
    make_ctx, world, clock
) -> None:
    ctx = await make_ctx()
    strategy = await make_strategy(ctx)
    world.chain.land_as["swap-q3"] = "never"  # accepted by the node, never in a block
    world.solana.faults.fail_at("confirm", 3, transient("solana"))
    failed = await runs.start_run(ctx, strategy.strategy_id, "api")
    assert failed.error.code == "SWAP_TX_UNCONFIRMED"
    assert failed.swap_tx_signature == "sig-swap-q3"
    clock.advance(seconds=LOCK_TTL.total_seconds() + 120)
    resumed = await runs.resume_run(ctx, failed.run_id, "cli")
    assert resumed.state == "COMPLETE", resumed.error
    assert world.bags.faults.calls["trade_quote"] == 2  # the expired swap is replaced once
    assert world.chain.usdc[OWNER] == ONE_SWAP_USDC
    assert resumed.swap_tx_signature == "sig-swap-q4"


async def test_a_refusal_that_follows_a_lost_answer_defers_to_the_chain(cctx, world) -> None:
    """The retry arrives after the blockhash expired: "Blockhash not found", although the
    first send landed. Only the signature's status says so."""
    strategy = await make_strategy(cctx)
    text = f"claim-{FEE_MINT_A[:6]}-1-0"
    land = world.chain.effects

    async def claim_then_expire(fee_claimer: str, mint: str):
        txs = await fetch(fee_claimer, mint)
        if mint == FEE_MINT_A and text in land:
            effect = land[text]

            def landed_then_time_passed():
                moved = effect()
                world.chain.height = world.chain.valid_until[text] + 1
                return moved

            land[text] = landed_then_time_passed
        return txs

    fetch = world.bags.claim_transactions
    world.bags.claim_transactions = claim_then_expire  # type: ignore[method-assign]
    world.solana.faults.lose_at("send_transaction", 1, timed_out("solana"))
    run = await runs.start_run(cctx, strategy.strategy_id, "api")
    assert run.state == "COMPLETE", run.error
    assert run.claimed_lamports == 1_500_000_000
    assert world.bags.claimable == {FEE_MINT_A: 0, FEE_MINT_B: 0}


async def test_a_clear_preflight_rejection_still_fails_the_claim(cctx, world) -> None:
    strategy = await make_strategy(cctx)
    world.solana.faults.fail(
        "send_transaction", preflight("Insufficient funds for fee", "InsufficientFundsForFee")
    )
    run = await runs.start_run(cctx, strategy.strategy_id, "api")
    assert (run.error.code, run.error.failed_state) == ("CLAIM_TX_FAILED", "CLAIMING")
    assert "Insufficient funds for fee" in run.error.detail
    assert run.claimed_lamports in (0, None)
    rows = await claim_rows(cctx)
    assert [r.status for r in rows] == ["failed"]
    assert world.bags.claimable == {FEE_MINT_A: SOL, FEE_MINT_B: 500_000_000}


async def test_a_send_that_never_reached_the_node_is_sent_again_and_counted_once(
    cctx, world
) -> None:
    strategy = await make_strategy(cctx)
    world.solana.faults.fail("send_transaction", timed_out("solana"))  # before any effect
    run = await runs.start_run(cctx, strategy.strategy_id, "api")
    assert run.state == "COMPLETE", run.error
    assert run.claimed_lamports == 1_500_000_000
    assert world.chain.usdc[OWNER] == ONE_SWAP_USDC


async def test_a_duplicate_send_is_refused_by_the_fake_chain(world) -> None:
    """The fakes are no kinder than Solana: no silent idempotency."""
    from arenabrain.clients.solana import RpcError

    txs = await world.bags.claim_transactions(OWNER, FEE_MINT_A)
    wire = txs[0].tx_base58.encode()
    signature = await world.solana.send_transaction(wire)
    with pytest.raises(RpcError) as again:
        await world.solana.send_transaction(wire)
    assert again.value.already_processed and again.value.code == -32002
    assert await world.solana.lamports_received(signature, OWNER) == SOL
    assert world.bags.claimable[FEE_MINT_A] == 0


# --- positions that share a mint ------------------------------------------------------------


async def test_positions_sharing_a_mint_are_claimed_once_and_credited_what_moved(
    cctx, world
) -> None:
    world.bags.fee_vaults = {FEE_MINT_A: 2_500_000_000}  # a custom fee vault of token A
    strategy = await make_strategy(cctx)
    run = await runs.start_run(cctx, strategy.strategy_id, "api")
    assert run.state == "COMPLETE", run.error
    assert run.claimed_lamports == 4_000_000_000
    assert world.bags.claimable == {FEE_MINT_A: 0, FEE_MINT_B: 0}
    assert world.bags.fee_vaults == {FEE_MINT_A: 0}
    assert world.bags.faults.calls["claim_transactions"] == 2  # once per mint
    moved = sum(world.chain.received[s][OWNER] for s in world.chain.received if "claim" in s)
    assert run.claimed_lamports == moved


async def test_the_claim_cap_takes_the_positions_of_a_mint_together(make_ctx, world) -> None:
    world.bags.fee_vaults = {FEE_MINT_A: 2_500_000_000}
    ctx = await make_ctx(MAX_CLAIMABLE_SOL_PER_RUN="3")
    strategy = await make_strategy(ctx)
    run = await runs.start_run(ctx, strategy.strategy_id, "api")
    assert run.state == "COMPLETE", run.error
    # Token A's claim would move 3.5 SOL, past the cap: it waits; token B's 0.5 SOL fits.
    assert run.claimed_lamports == 500_000_000
    assert world.bags.claimable == {FEE_MINT_A: SOL, FEE_MINT_B: 0}
    assert world.bags.fee_vaults == {FEE_MINT_A: 2_500_000_000}
    status = await runs.run_status(ctx, run_id=run.run_id)
    details = next(
        e.details for e in status.audit_log if e.action == "transition:CLAIMING->SWAPPING"
    )
    assert details["positionsLeftForLaterRuns"] == [FEE_MINT_A]


async def test_a_run_credits_what_the_claims_moved_not_the_listed_figure(cctx, world) -> None:
    fetch = world.bags.claim_transactions

    async def accrued_since_listing(fee_claimer: str, mint: str):
        world.bags.claimable[mint] += 1_234  # fees that accrued after claimable-positions
        return await fetch(fee_claimer, mint)

    world.bags.claim_transactions = accrued_since_listing  # type: ignore[method-assign]
    strategy = await make_strategy(cctx)
    run = await runs.start_run(cctx, strategy.strategy_id, "api")
    assert run.state == "COMPLETE", run.error
    assert run.claimed_lamports == 1_500_000_000 + 2 * 1_234


async def test_a_resumed_multi_transaction_claim_counts_each_landed_part_once(
    make_ctx, world, clock
) -> None:
    from tests.credits.fakes import Crash

    world.bags.txs_per_position = 3
    ctx = await make_ctx()
    strategy = await make_strategy(ctx)
    world.solana.faults.crash_at("send_transaction", 2)  # two parts of A landed, then death
    with pytest.raises(Crash):
        await runs.start_run(ctx, strategy.strategy_id, "api")
    clock.advance(seconds=LOCK_TTL.total_seconds() + 60)
    async with ctx.db.read() as session:
        (stuck,) = await runs.listing(session, strategy.strategy_id)
    resumed = await runs.resume_run(await make_ctx(), stuck.run_id, "cli")
    assert resumed.state == "COMPLETE", resumed.error
    assert resumed.claimed_lamports == 1_500_000_000
    assert world.bags.claimable == {FEE_MINT_A: 0, FEE_MINT_B: 0}
