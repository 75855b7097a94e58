"""Lost send answers and shared-mint claims end to end: the real clients, real transactions
signed with SIGNER_PRIVATE_KEY, and the emulated RPC whose armed faults apply a transaction
and then lose its answer (a timeout or a 5xx), as a node behind a flaky gateway does.

Every test ends with a ledger check to the lamport: the fee vault lost exactly what the run
credited as claimed, the owner's SOL is its starting balance less the fees of the landed
transactions, and the USDC on chain is exactly what the run counted."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from arenabrain.clients.solana import USDC_MINT
from arenabrain.clock import FrozenClock
from arenabrain.context import Context
from arenabrain.credits import runs
from arenabrain.credits.phases import HANDLERS
from arenabrain.sandbox import Sandbox
from arenabrain.sandbox import bags as bags_emulator
from arenabrain.sandbox import solana as chain
from tests.credits.conftest import make_strategy
from tests.credits.fakes import wallet
from tests.credits.test_sandbox_e2e import FEE_MINT_A, MINT, OWNER, TOTAL, sctx
from tests.credits.test_shared_wallet import allocated_cents

__all__ = ["sctx"]  # the emulator-backed context fixture of test_sandbox_e2e

START_SOL = 100_000_000  # what sctx gives the owner for fees
CLAIM_TXS = "/api/v1/token-launch/claim-txs/v3"
QUOTE = "/api/v1/trade/quote"


def arm_at(state: str, *faults: str | chain.Fault) -> dict[Any, Any]:
    """Handlers that arm `faults` on the RPC emulator as the `state` phase starts."""
    armed: list[str] = []

    def wrap(name, handler):
        async def wrapped(pc):
            if name == state and not armed:
                armed.append(name)
                chain.arm_fault(pc.ctx.sandbox.world, *faults)
            return await handler(pc)

        return wrapped

    return {name: wrap(name, handler) for name, handler in HANDLERS.items()}


def landed(world) -> list[dict[str, Any]]:
    return [t for t in chain.solana_state(world)["transactions"].values() if t["landed"]]


def assert_ledger(world, run, vault_before: int) -> None:
    """Lamports and USDC on the emulated chain match the run exactly."""
    vault = str(bags_emulator.fee_vault(world).pubkey())
    assert vault_before - chain.balance(world, vault) == run.claimed_lamports
    fees = sum(t["fee"] for t in landed(world))
    # Everything claimed was swapped; the owner keeps its start less what it paid in fees.
    assert chain.balance(world, OWNER) == START_SOL - fees
    usdc = chain.token_balance(world, OWNER, USDC_MINT)
    assert run.swapped_usdc == Decimal(usdc) / 10**6 and usdc > 0


async def start(sctx: Context, sandbox: Sandbox) -> tuple[Any, int]:
    world = sandbox.world
    chain.seed_holders(world, MINT, {wallet(1): 10, wallet(2): 30})
    vault_before = chain.balance(world, str(bags_emulator.fee_vault(world).pubkey()))
    return await make_strategy(sctx, owner_wallet=OWNER, distribution_token=MINT), vault_before


LOST = [chain.SEND_APPLIED_THEN_TIMEOUT, chain.SEND_APPLIED_THEN_502, chain.SEND_APPLIED_THEN_503]


@pytest.mark.parametrize("fault", LOST)
async def test_a_claim_whose_send_answer_is_lost_is_credited_once_and_the_run_completes(
    sctx: Context, sandbox: Sandbox, fault: str, use_handlers
) -> None:
    world = sandbox.world
    strategy, vault_before = await start(sctx, sandbox)
    use_handlers(arm_at("CLAIMING", fault))
    run = await runs.start_run(sctx, strategy.strategy_id, "api")
    assert run.state == "COMPLETE", run.error
    assert run.claimed_lamports == TOTAL
    assert bags_emulator.claimable_lamports(world, OWNER) == 0
    # 3 claims and a swap, plus the one re-send that was refused as already processed.
    assert world.calls("helius", "sendTransaction") == 5
    assert len(landed(world)) == 4
    assert world.calls("bags", "POST", CLAIM_TXS) == 2
    assert_ledger(world, run, vault_before)


@pytest.mark.parametrize("fault", LOST)
async def test_a_swap_whose_send_answer_is_lost_is_swapped_and_counted_once(
    sctx: Context, sandbox: Sandbox, fault: str, use_handlers
) -> None:
    world = sandbox.world
    strategy, vault_before = await start(sctx, sandbox)
    use_handlers(arm_at("SWAPPING", fault))
    run = await runs.start_run(sctx, strategy.strategy_id, "api")
    assert run.state == "COMPLETE", run.error
    assert world.calls("bags", "GET", QUOTE) == 1
    assert len(landed(world)) == 4  # one swap on chain
    assert_ledger(world, run, vault_before)


async def test_a_swap_answer_lost_as_the_rpc_goes_down_is_not_swapped_again_on_resume(
    sctx: Context, sandbox: Sandbox, clock: FrozenClock, use_handlers
) -> None:
    world = sandbox.world
    strategy, vault_before = await start(sctx, sandbox)
    # The swap lands unanswered; its re-sends and the status check then meet a dead RPC.
    resend_down = chain.Fault("sendTransaction", chain.BEFORE, 503)
    status_down = chain.Fault("getSignatureStatuses", chain.BEFORE, 503)
    use_handlers(
        arm_at("SWAPPING", chain.SEND_APPLIED_THEN_TIMEOUT, *[resend_down] * 3, status_down)
    )
    failed = await runs.start_run(sctx, strategy.strategy_id, "api")
    assert (failed.state, failed.error.failed_state) == ("FAILED", "SWAPPING")
    assert failed.error.code == "SWAP_TX_UNCONFIRMED"
    assert failed.swap_tx_signature is not None  # kept for the chain to decide
    chain.clear_faults(world)

    clock.advance(minutes=2)  # past the RPC breaker's cooldown
    resumed = await runs.resume_run(sctx, failed.run_id, "cli")
    assert resumed.state == "COMPLETE", resumed.error
    assert resumed.swap_tx_signature == failed.swap_tx_signature
    assert world.calls("bags", "GET", QUOTE) == 1  # never quoted, signed or sent again
    assert len(landed(world)) == 4
    assert_ledger(world, resumed, vault_before)


async def test_two_positions_sharing_a_mint_are_both_claimed_and_credited_what_moved(
    sctx: Context, sandbox: Sandbox
) -> None:
    world = sandbox.world
    # A custom fee vault of token A next to its pool position (1 SOL), as Bags shows them.
    bags_emulator.add_claimable_position(world, OWNER, FEE_MINT_A, 2_500_000_000, "fee_share_v2")
    strategy, vault_before = await start(sctx, sandbox)
    run = await runs.start_run(sctx, strategy.strategy_id, "api")
    assert run.state == "COMPLETE", run.error
    assert run.claimed_lamports == TOTAL + 2_500_000_000
    assert bags_emulator.claimable_lamports(world, OWNER) == 0
    assert world.calls("bags", "POST", CLAIM_TXS) == 2  # once per mint
    assert len(landed(world)) == 5  # 2 for token A, 2 for token B, the swap
    assert_ledger(world, run, vault_before)


async def test_a_swap_resumed_after_another_run_swapped_on_the_wallet_counts_only_its_own_usdc(
    sctx: Context, sandbox: Sandbox, clock: FrozenClock, use_handlers
) -> None:
    world = sandbox.world
    first, vault_before = await start(sctx, sandbox)
    chain.seed_holders(world, MINT, {wallet(3): 30, wallet(4): 30})  # no $100 key cap is reached
    second = await make_strategy(sctx, owner_wallet=OWNER, distribution_token=MINT)
    # The swap lands (creating the owner's USDC account); its confirmation cannot be read.
    use_handlers(arm_at("SWAPPING", chain.STATUSES_TIMEOUT))
    failed = await runs.start_run(sctx, first.strategy_id, "api")
    assert (failed.state, failed.error.failed_state, failed.error.code) == (
        "FAILED",
        "SWAPPING",
        "SWAP_TX_UNCONFIRMED",
    )
    first_usdc = chain.token_balance(world, OWNER, USDC_MINT)  # only this run's swap so far
    assert first_usdc > 0

    # Another strategy on the same wallet claims new fees and swaps before the resume.
    use_handlers(HANDLERS)
    bags_emulator.add_claimable_position(world, OWNER, wallet(213), 1_000_000_007)
    other = await runs.start_run(sctx, second.strategy_id, "scheduler")
    assert other.state == "COMPLETE", other.error
    total_usdc = chain.token_balance(world, OWNER, USDC_MINT)

    clock.advance(minutes=2)
    resumed = await runs.resume_run(sctx, failed.run_id, "cli")
    assert resumed.state == "COMPLETE", resumed.error
    assert resumed.swap_tx_signature == failed.swap_tx_signature
    assert world.calls("bags", "GET", QUOTE) == 2  # one swap each
    assert resumed.swapped_usdc * 10**6 == first_usdc
    assert other.swapped_usdc * 10**6 == total_usdc - first_usdc
    # The ledgers: USDC counted is USDC moved to the base unit; SOL to the lamport.
    assert (resumed.swapped_usdc + other.swapped_usdc) * 10**6 == total_usdc
    vault = str(bags_emulator.fee_vault(world).pubkey())
    claimed = resumed.claimed_lamports + other.claimed_lamports
    assert claimed == TOTAL + 1_000_000_007
    assert vault_before + 1_000_000_007 - chain.balance(world, vault) == claimed
    assert chain.balance(world, OWNER) == START_SOL - sum(t["fee"] for t in landed(world))
    # Every holder allocation derives from the run's own USDC.
    for run in (resumed, other):
        cents = int(run.swapped_usdc * 100)
        assert await allocated_cents(sctx, run.run_id) == (cents, [cents])
