"""CLAIMING (and the fixed phases around it): threshold, claim cap, one transaction at a
time, stale transactions, and the dependencies a live claim needs."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

import pytest
from sqlalchemy import select

from arenabrain.clients.bags import ClaimablePosition
from arenabrain.credits import runs
from arenabrain.credits.models import ClaimTransaction
from arenabrain.credits.phases.claiming import select_claims
from tests.credits.conftest import make_strategy
from tests.credits.fakes import FEE_MINT_A, FEE_MINT_B, OWNER, FakeSigner, wallet

SOL = 1_000_000_000


def pos(mint: str, lamports: int) -> ClaimablePosition:
    return ClaimablePosition(base_mint=mint, kind="standard", claimable_lamports=lamports)


@pytest.mark.parametrize(
    ("positions", "cap", "chosen"),
    [
        ([("a", 5), ("b", 3), ("c", 2)], 10, ["a", "b", "c"]),
        ([("a", 5), ("b", 3), ("c", 2)], 7, ["a", "c"]),  # b does not fit after a; c does
        ([("a", 5), ("b", 3), ("c", 2)], 4, ["b"]),
        ([("a", 5), ("b", 5), ("c", 0)], 5, ["a"]),  # ties by mint; zero positions ignored
        ([("a", 5)], 0, []),
        # Positions of one mint are claimed by one request, so they are taken together.
        ([("a", 3), ("b", 4), ("a", 2)], 6, ["a"]),
        ([("a", 3), ("b", 4), ("a", 2)], 4, ["b"]),  # a's 5 does not fit, b's 4 does
        ([("a", 3), ("b", 4), ("a", 2)], 9, ["a", "b"]),
    ],
)
def test_greedy_claim_cap_over_mints(positions, cap, chosen) -> None:
    selection = select_claims([pos(m, v) for m, v in positions], cap)
    assert [c.mint for c in selection.chosen] == chosen
    assert selection.lamports <= cap
    kept = [c.mint for c in selection.chosen + selection.left_for_later]
    assert sorted(kept) == sorted({m for m, v in positions if v > 0})


async def claim_rows(ctx):
    async with ctx.db.read() as session:
        return list(await session.scalars(select(ClaimTransaction)))


async def test_claim_cap_limits_what_one_run_claims(make_ctx, world) -> None:
    ctx = await make_ctx(MAX_CLAIMABLE_SOL_PER_RUN="1.2")
    strategy = await make_strategy(ctx)
    run = await runs.start_run(ctx, strategy.strategy_id, "api")
    assert run.state == "COMPLETE", run.error
    assert run.claimed_lamports == SOL  # 1.0 fits; 0.5 more would pass 1.2
    assert world.bags.claimable == {FEE_MINT_A: 0, FEE_MINT_B: 500_000_000}
    status = await runs.run_status(ctx, run_id=run.run_id)
    details = next(
        e.details for e in status.audit_log if e.action == "transition:CLAIMING->SWAPPING"
    )
    assert details["positionsLeftForLaterRuns"] == [FEE_MINT_B]


async def test_a_total_equal_to_the_threshold_is_claimed(cctx, world) -> None:
    strategy = await make_strategy(cctx, min_claim_threshold=Decimal("1.5"))
    run = await runs.start_run(cctx, strategy.strategy_id, "api")
    assert run.claimed_lamports == 1_500_000_000


async def test_below_the_threshold_nothing_is_claimed_and_nothing_moves(cctx, world) -> None:
    strategy = await make_strategy(cctx, min_claim_threshold=Decimal("1.500000001"))
    run = await runs.start_run(cctx, strategy.strategy_id, "api")
    assert run.state == "COMPLETE"
    assert run.claimed_lamports == 0
    assert run.swapped_usdc == 0
    assert run.allocated_usd == 0
    assert world.mutations()["send_transaction"] == 0
    assert world.keys.keys == {}
    status = await runs.run_status(cctx, run_id=run.run_id)
    details = next(
        e.details for e in status.audit_log if e.action == "transition:CLAIMING->SWAPPING"
    )
    assert details["reason"] == "below-threshold"


async def test_partner_fees_fail_clearly(cctx, world) -> None:
    strategy = await make_strategy(cctx, source="PARTNER_FEES")
    run = await runs.start_run(cctx, strategy.strategy_id, "api")
    assert run.state == "FAILED"
    assert run.error.code == "NOT_IMPLEMENTED"
    assert run.error.failed_state == "CLAIMING"
    assert "PARTNER_FEES" in run.error.detail
    assert sum(world.bags.faults.calls.values()) == 0


async def test_with_an_evm_key_the_bridge_fails_instead_of_faking_success(make_ctx, world) -> None:
    ctx = await make_ctx(EVM_PRIVATE_KEY="0x" + "11" * 32)
    strategy = await make_strategy(ctx)
    run = await runs.start_run(ctx, strategy.strategy_id, "api")
    assert run.state == "FAILED"
    assert (run.error.code, run.error.failed_state) == ("DEPENDENCY_NOT_CONFIGURED", "BRIDGING")
    assert "CCTP bridge not implemented yet" in run.error.detail
    assert world.keys.keys == {}


async def test_live_claiming_needs_the_signer(make_ctx, world) -> None:
    world.without_signer()
    ctx = await make_ctx()
    ctx = replace(ctx, clients=world.clients)
    strategy = await make_strategy(ctx)
    run = await runs.start_run(ctx, strategy.strategy_id, "api")
    assert (run.error.code, run.error.failed_state) == ("DEPENDENCY_NOT_CONFIGURED", "CLAIMING")
    assert "SIGNER_PRIVATE_KEY" in run.error.detail


async def test_the_signer_must_be_the_fee_claimer(cctx, world) -> None:
    world.clients.signer = FakeSigner(wallet(99))
    strategy = await make_strategy(cctx)
    run = await runs.start_run(cctx, strategy.strategy_id, "api")
    assert run.error.code == "SIGNER_MISMATCH"


async def test_multi_transaction_positions_count_their_lamports_once(cctx, world) -> None:
    world.bags.txs_per_position = 3
    strategy = await make_strategy(cctx)
    run = await runs.start_run(cctx, strategy.strategy_id, "api")
    assert run.claimed_lamports == 1_500_000_000
    rows = await claim_rows(cctx)
    assert len(rows) == 6
    assert sorted(r.lamports_expected for r in rows) == [0, 0, 0, 0, 500_000_000, SOL]


async def test_a_position_without_transactions_is_not_counted(cctx, world) -> None:
    world.bags.empty_mints = {FEE_MINT_B}
    strategy = await make_strategy(cctx)
    run = await runs.start_run(cctx, strategy.strategy_id, "api")
    assert run.claimed_lamports == SOL
    status = await runs.run_status(cctx, run_id=run.run_id)
    details = next(
        e.details for e in status.audit_log if e.action == "transition:CLAIMING->SWAPPING"
    )
    assert details["positionsWithoutTransactions"] == [FEE_MINT_B]


async def test_an_expired_claim_transaction_is_fetched_again(cctx, world) -> None:
    strategy = await make_strategy(cctx)
    # The first transaction for A never lands (stale blockhash); the second set does.
    world.chain.land_as["claim-" + FEE_MINT_A[:6] + "-1-0"] = "never"
    run = await runs.start_run(cctx, strategy.strategy_id, "api")
    assert run.state == "COMPLETE", run.error
    assert run.claimed_lamports == 1_500_000_000
    rows = await claim_rows(cctx)
    assert sorted((r.position_key, r.status) for r in rows) == sorted(
        [(FEE_MINT_A, "failed"), (f"{FEE_MINT_A}#2", "confirmed"), (FEE_MINT_B, "confirmed")]
    )


async def test_a_claim_that_fails_on_chain_fails_the_phase(cctx, world) -> None:
    strategy = await make_strategy(cctx)
    world.chain.land_as["claim-" + FEE_MINT_A[:6] + "-1-0"] = "failed"
    run = await runs.start_run(cctx, strategy.strategy_id, "api")
    assert (run.error.code, run.error.failed_state) == ("CLAIM_TX_FAILED", "CLAIMING")
    assert "InstructionError" in run.error.detail


async def test_an_expired_swap_is_replaced_once_by_a_fresh_quote(cctx, world) -> None:
    strategy = await make_strategy(cctx)
    world.chain.land_as["swap-q3"] = "never"  # quotes q1/q2 are the claim batches' serials
    run = await runs.start_run(cctx, strategy.strategy_id, "api")
    assert run.state == "COMPLETE", run.error
    assert world.bags.faults.calls["trade_quote"] == 2
    assert world.chain.usdc[OWNER] == 223_875_000  # one swap landed


async def test_a_swap_that_fails_on_chain_fails_the_phase_and_resume_swaps_afresh(
    cctx, world
) -> None:
    strategy = await make_strategy(cctx)
    world.chain.land_as["swap-q3"] = "failed"
    run = await runs.start_run(cctx, strategy.strategy_id, "api")
    assert (run.error.code, run.error.failed_state) == ("SWAP_TX_FAILED", "SWAPPING")
    assert run.swap_tx_signature is None  # nothing was swapped; nothing to check on resume
    resumed = await runs.resume_run(cctx, run.run_id, "api")
    assert resumed.state == "COMPLETE", resumed.error
    assert world.chain.usdc[OWNER] == 223_875_000
