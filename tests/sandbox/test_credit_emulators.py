"""The CreditBrain emulators (Bags, Helius/Solana RPC, OpenRouter keys) through our clients:
real transactions that the emulated RPC verifies, lamports and USDC that move, DAS paging,
Bags' rate limit, and key management with simulated usage."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import base58
import httpx
import pytest
from solders.hash import Hash
from solders.keypair import Keypair
from solders.pubkey import Pubkey
from solders.token.associated import get_associated_token_address
from solders.transaction import Transaction, VersionedTransaction

from arenabrain.clients.bags import BagsClient, BagsRateLimiter
from arenabrain.clients.bundle import Clients, build_clients
from arenabrain.clients.errors import UpstreamError
from arenabrain.clients.helius import HeliusDas
from arenabrain.clients.openrouter.keys import OpenRouterKeys
from arenabrain.clients.signing import Signer
from arenabrain.clients.solana import USDC_MINT, WSOL_MINT, RpcError, SolanaRpc, is_expired
from arenabrain.clock import FrozenClock
from arenabrain.context import Context
from arenabrain.sandbox import Sandbox, World
from arenabrain.sandbox import bags as bags_emulator
from arenabrain.sandbox import openrouter as openrouter_emulator
from arenabrain.sandbox import solana as chain
from arenabrain.settings import Settings
from tests.conftest import FakeSleep

BAGS_URL = "https://public-api-v2.bags.fm/api/v1/"
HELIUS_URL = "https://mainnet.helius-rpc.com/"
OPENROUTER_URL = "https://openrouter.ai/api/v1/"
MINT = "7GCihgDB8fe6KNjn2MYtkzZcRjQy3t9GHdC8uHYmW2hr"
OTHER_MINT = "2b1kV6DkPAnxd5ixfnxCpjxmKwqjjaYmCZfHsFu24GXo"
OWNER = Keypair.from_seed(bytes([9] * 32))
FEE = 5_000


@dataclass
class Rig:
    world: World
    sleep: FakeSleep
    bags: BagsClient
    rpc: SolanaRpc
    das: HeliusDas
    keys: OpenRouterKeys
    signer: Signer
    http: dict[str, httpx.AsyncClient]


@pytest.fixture
def world(sandbox: Sandbox) -> World:
    return sandbox.world


@pytest.fixture
async def rig(sandbox: Sandbox, clock: FrozenClock) -> AsyncIterator[Rig]:
    transports = sandbox.transports()
    sleep = FakeSleep(clock)
    http = {
        "bags": httpx.AsyncClient(transport=transports["bags"], base_url=BAGS_URL),
        "helius": httpx.AsyncClient(
            transport=transports["helius"], base_url=HELIUS_URL, params={"api-key": "hk"}
        ),
        "openrouter": httpx.AsyncClient(
            transport=transports["openrouter"], base_url=OPENROUTER_URL
        ),
    }
    yield Rig(
        world=sandbox.world,
        sleep=sleep,
        bags=BagsClient(http["bags"], "bags-key", BagsRateLimiter(clock, sleep)),
        rpc=SolanaRpc(http["helius"], sleep=sleep, poll_interval=0.5, max_wait=300),
        das=HeliusDas(http["helius"]),
        keys=OpenRouterKeys(http["openrouter"], "mgmt-key"),
        signer=Signer(OWNER),
        http=http,
    )
    for client in http.values():
        await client.aclose()


def owner() -> str:
    return str(OWNER.pubkey())


def vault(world: World) -> str:
    return str(bags_emulator.fee_vault(world).pubkey())


# --- Bags emulator ---------------------------------------------------------------------------


async def test_positions_of_three_kinds_with_string_amounts(rig: Rig) -> None:
    bags_emulator.add_claimable_position(rig.world, owner(), MINT, 2_000_000_000)
    bags_emulator.add_claimable_position(
        rig.world, owner(), OTHER_MINT, 700_000_000, "fee_share_v1", as_strings=True
    )
    bags_emulator.add_claimable_position(
        rig.world, owner(), OTHER_MINT, 300_000_000, "fee_share_v2", migrated=False
    )
    positions = await rig.bags.claimable_positions(owner())
    assert [(p.kind, p.base_mint, p.claimable_lamports) for p in positions] == [
        ("standard", MINT, 2_000_000_000),
        ("fee_share_v1", OTHER_MINT, 700_000_000),
        ("fee_share_v2", OTHER_MINT, 300_000_000),
    ]
    assert positions[0].raw["virtualPoolClaimableAmount"] == 1_400_000_000
    assert positions[0].raw["dammPoolClaimableAmount"] == 600_000_000
    assert positions[1].raw["totalClaimableLamportsUserShare"] == "700000000"
    assert positions[2].raw["dammPoolClaimableLamportsUserShare"] == 0
    assert await rig.bags.claimable_positions(str(Keypair().pubkey())) == []


async def test_fees_accrue_into_the_same_position(rig: Rig) -> None:
    bags_emulator.add_claimable_position(rig.world, owner(), MINT, 100)
    bags_emulator.add_claimable_position(rig.world, owner(), MINT, 50)
    (position,) = await rig.bags.claimable_positions(owner())
    assert position.claimable_lamports == 150
    assert chain.balance(rig.world, vault(rig.world)) == 150


async def test_api_key_is_required(rig: Rig) -> None:
    bags_emulator.bags_state(rig.world)["api_keys"] = {"the-real-key"}
    with pytest.raises(UpstreamError, match="Invalid API key") as caught:
        await rig.bags.claimable_positions(owner())
    assert caught.value.status == 401 and not caught.value.transient
    answer = await rig.http["bags"].get(
        "token-launch/claimable-positions", params={"wallet": owner()}
    )
    assert answer.status_code == 401
    assert answer.json() == {"success": False, "error": "API key is required"}


async def test_claim_txs_are_real_legacy_transactions_presigned_by_bags(rig: Rig) -> None:
    bags_emulator.add_claimable_position(rig.world, owner(), MINT, 1_000_000)
    (claim,) = await rig.bags.claim_transactions(owner(), MINT)
    tx = Transaction.from_bytes(base58.b58decode(claim.tx_base58))
    assert tx.message.header.num_required_signatures == 2
    assert tx.message.account_keys[0] == OWNER.pubkey()  # the claimer pays the fee
    assert tx.message.account_keys[1] == bags_emulator.fee_vault(rig.world).pubkey()
    assert tx.verify_with_results() == [False, True]  # our slot is empty, Bags' is signed
    assert str(tx.message.recent_blockhash) == claim.blockhash
    blockhash, last_valid = chain.latest_blockhash(rig.world)
    assert (claim.blockhash, claim.last_valid_block_height) == (blockhash, last_valid)


async def test_claim_for_an_unknown_mint_is_a_400(rig: Rig) -> None:
    with pytest.raises(UpstreamError, match="No claimable positions") as caught:
        await rig.bags.claim_transactions(owner(), MINT)
    assert caught.value.status == 400


async def test_quote_has_string_amounts_and_a_deterministic_price(rig: Rig) -> None:
    quote = await rig.bags.trade_quote(WSOL_MINT, USDC_MINT, 10_000_000_000, 50)
    # 10 SOL at 150 USDC, less 0.1% impact (0.01% per SOL), then 50 bps slippage floor.
    assert quote.out_amount == 1_498_500_000
    assert quote.min_out_amount == 1_498_500_000 * 9_950 // 10_000
    assert quote.price_impact_pct == Decimal("0.1")
    assert quote.raw["inAmount"] == "10000000000" and isinstance(quote.raw["outAmount"], str)
    bags_emulator.set_sol_price(rig.world, "200")
    higher = await rig.bags.trade_quote(WSOL_MINT, USDC_MINT, 10_000_000_000, 50)
    assert higher.out_amount == 1_998_000_000


async def test_quote_rejects_bad_input(rig: Rig) -> None:
    with pytest.raises(UpstreamError, match="No route found"):
        await rig.bags.trade_quote(USDC_MINT, MINT, 1_000, 50)
    with pytest.raises(UpstreamError, match="Invalid amount"):
        await rig.bags.trade_quote(WSOL_MINT, USDC_MINT, 0, 50)


async def test_swap_is_a_v0_transaction_we_alone_sign(rig: Rig) -> None:
    quote = await rig.bags.trade_quote(WSOL_MINT, USDC_MINT, 1_000_000_000, 50)
    swap = await rig.bags.swap_transaction(quote, owner())
    tx = VersionedTransaction.from_bytes(base58.b58decode(swap.tx_base58))
    assert tx.version() == 0
    assert tx.message.header.num_required_signatures == 1
    assert tx.message.account_keys[0] == OWNER.pubkey()
    assert tx.verify_with_results() == [False]
    assert swap.last_valid_block_height == chain.latest_blockhash(rig.world)[1]


async def test_emulated_rate_limit_answers_429_and_the_limiter_waits(rig: Rig) -> None:
    state = bags_emulator.bags_state(rig.world)
    state["rate_limit"] = 3
    for _ in range(3):
        await rig.bags.claimable_positions(owner())
        rig.sleep.clock.advance(seconds=100)
    answer = await rig.http["bags"].get(
        "token-launch/claimable-positions",
        params={"wallet": owner()},
        headers={"x-api-key": "bags-key"},
    )
    assert answer.status_code == 429
    assert answer.headers["x-ratelimit-remaining"] == "0"
    assert answer.headers["retry-after"] == str(3600 - 300)
    # The client saw remaining=0 on its third call and waits for the reset before the fourth.
    await rig.bags.claimable_positions(owner())
    assert rig.sleep.waits == [3600 - 300]
    assert rig.world.calls("bags", "GET") == 5


async def test_injected_503_then_429_retry_after(rig: Rig) -> None:
    bags_emulator.inject_failure(rig.world, 503, {"status": 429, "retry_after": 4})
    with pytest.raises(UpstreamError, match="503") as caught:
        await rig.bags.claimable_positions(owner())
    assert caught.value.transient
    assert await rig.bags.claimable_positions(owner()) == []
    assert rig.sleep.waits == [4.0]


# --- the emulated RPC verifies and applies transactions --------------------------------------


async def fund_and_get_claim(rig: Rig, lamports: int = 2_000_000_000) -> Any:
    chain.set_balance(rig.world, owner(), 1_000_000)
    bags_emulator.add_claimable_position(rig.world, owner(), MINT, lamports)
    (claim,) = await rig.bags.claim_transactions(owner(), MINT)
    return claim


async def test_rpc_rejects_an_unsigned_claim(rig: Rig) -> None:
    claim = await fund_and_get_claim(rig)
    wire = base58.b58decode(claim.tx_base58)  # only Bags' signature
    with pytest.raises(RpcError) as caught:
        await rig.rpc.send_transaction(wire)
    assert caught.value.code == -32003
    assert chain.balance(rig.world, owner()) == 1_000_000


async def test_rpc_rejects_a_claim_signed_by_the_wrong_key(rig: Rig) -> None:
    claim = await fund_and_get_claim(rig)
    tx = Transaction.from_bytes(base58.b58decode(claim.tx_base58))
    forged = Keypair().sign_message(bytes(tx.message))
    signatures = list(tx.signatures)
    signatures[0] = forged
    tx = Transaction.populate(tx.message, signatures)
    with pytest.raises(RpcError, match="signature verification"):
        await rig.rpc.send_transaction(bytes(tx))
    assert rig.world.calls("helius", "sendTransaction") == 1


async def test_rpc_rejects_a_claim_whose_blockhash_was_replaced(rig: Rig) -> None:
    claim = await fund_and_get_claim(rig)
    tx = Transaction.from_bytes(base58.b58decode(claim.tx_base58))
    chain.advance_blocks(rig.world, 1)
    fresh, _ = chain.latest_blockhash(rig.world)
    # "Refreshing" the blockhash, as the anchor's failure log did, wipes Bags' signature.
    tx.partial_sign([OWNER], Hash.from_string(fresh))
    assert tx.verify_with_results() == [True, False]
    with pytest.raises(RpcError, match="signature verification"):
        await rig.rpc.send_transaction(bytes(tx))


async def test_partially_signed_claim_lands_and_moves_the_lamports(rig: Rig) -> None:
    claim = await fund_and_get_claim(rig, 2_000_000_000)
    wire, signature = rig.signer.sign_claim(claim.tx_base58)
    assert await rig.rpc.send_transaction(wire) == signature
    status = await rig.rpc.confirm(signature, claim.last_valid_block_height)
    assert status.state == "confirmed"
    assert await rig.rpc.balance_lamports(owner()) == 1_000_000 + 2_000_000_000 - 2 * FEE
    assert chain.balance(rig.world, vault(rig.world)) == 0
    assert await rig.bags.claimable_positions(owner()) == []
    # The same transaction again is refused, and a second claim of the same fees fails.
    with pytest.raises(RpcError, match="already been processed"):
        await rig.rpc.send_transaction(wire)


async def test_claim_needing_two_transactions(rig: Rig) -> None:
    chain.set_balance(rig.world, owner(), 1_000_000)
    bags_emulator.add_claimable_position(rig.world, owner(), MINT, 1_000_001, tx_count=2)
    claims = await rig.bags.claim_transactions(owner(), MINT)
    assert len(claims) == 2
    for claim in claims:
        wire, _ = rig.signer.sign_claim(claim.tx_base58)
        await rig.rpc.send_transaction(wire)
    assert bags_emulator.claimable_lamports(rig.world, owner()) == 0
    assert chain.balance(rig.world, owner()) == 1_000_000 + 1_000_001 - 4 * FEE


async def test_a_stale_claim_of_released_fees_fails_on_chain(rig: Rig) -> None:
    claim = await fund_and_get_claim(rig, 500_000)
    chain.advance_blocks(rig.world, 1)
    (again,) = await rig.bags.claim_transactions(owner(), MINT)  # new blockhash, same fees
    bags_emulator.add_claimable_position(rig.world, owner(), OTHER_MINT, 500_000)
    first, _ = rig.signer.sign_claim(claim.tx_base58)
    await rig.rpc.send_transaction(first)
    second, signature = rig.signer.sign_claim(again.tx_base58)
    await rig.rpc.send_transaction(second)
    (status,) = await rig.rpc.signature_statuses([signature])
    assert status.state == "failed" and "6004" in (status.error or "")
    # Only its fee was charged; the other position's lamports stayed in the vault.
    assert chain.balance(rig.world, vault(rig.world)) == 500_000


async def test_insufficient_funds_for_fee(rig: Rig) -> None:
    bags_emulator.add_claimable_position(rig.world, owner(), MINT, 1_000)
    (claim,) = await rig.bags.claim_transactions(owner(), MINT)
    wire, _ = rig.signer.sign_claim(claim.tx_base58)  # the claimer has no SOL for the fee
    with pytest.raises(RpcError, match="Insufficient funds for fee") as caught:
        await rig.rpc.send_transaction(wire)
    assert caught.value.code == -32002 and not caught.value.transient
    chain.set_balance(rig.world, owner(), 1_000_000)
    chain.next_send(rig.world, "insufficient_funds_for_fee")
    with pytest.raises(RpcError) as switched:
        await rig.rpc.send_transaction(wire)
    assert switched.value.data["err"] == "InsufficientFundsForFee"
    await rig.rpc.send_transaction(wire)  # the switch is used up


async def test_expired_blockhash_is_refused_and_recognisable(rig: Rig) -> None:
    claim = await fund_and_get_claim(rig)
    chain.expire_blockhashes(rig.world)
    wire, _ = rig.signer.sign_claim(claim.tx_base58)
    with pytest.raises(RpcError) as caught:
        await rig.rpc.send_transaction(wire)
    assert caught.value.blockhash_not_found


async def test_confirm_on_a_dropped_transaction_reports_expiry(rig: Rig) -> None:
    claim = await fund_and_get_claim(rig)
    wire, signature = rig.signer.sign_claim(claim.tx_base58)
    chain.next_send(rig.world, "dropped")
    assert await rig.rpc.send_transaction(wire) == signature
    status = await rig.rpc.confirm(signature, claim.last_valid_block_height)
    assert is_expired(status)
    # About 150 blocks at 2.5 blocks a second: a minute of polling on the world's clock.
    assert 59 <= sum(rig.sleep.waits) <= 61
    assert chain.balance(rig.world, owner()) == 1_000_000
    assert bags_emulator.claimable_lamports(rig.world, owner()) == 2_000_000_000


async def test_landed_but_failed_transaction_has_err_in_its_status(rig: Rig) -> None:
    claim = await fund_and_get_claim(rig)
    wire, signature = rig.signer.sign_claim(claim.tx_base58)
    chain.next_send(rig.world, "landed_failed")
    await rig.rpc.send_transaction(wire)
    status = await rig.rpc.confirm(signature, claim.last_valid_block_height)
    assert status.state == "failed"
    assert status.error == '{"InstructionError":[0,{"Custom":1}]}'
    assert chain.balance(rig.world, owner()) == 1_000_000 - 2 * FEE
    assert bags_emulator.claimable_lamports(rig.world, owner()) == 2_000_000_000


async def test_statuses_become_finalized_after_32_blocks(rig: Rig) -> None:
    claim = await fund_and_get_claim(rig)
    wire, signature = rig.signer.sign_claim(claim.tx_base58)
    await rig.rpc.send_transaction(wire)
    unknown = base58.b58encode(bytes(64)).decode()
    first, missing = await rig.rpc.signature_statuses([signature, unknown])
    assert (first.state, missing.state) == ("confirmed", "unknown")
    chain.advance_blocks(rig.world, 32)
    (later,) = await rig.rpc.signature_statuses([signature])
    assert later.state == "finalized"


async def test_swap_moves_sol_and_credits_usdc(rig: Rig) -> None:
    chain.set_balance(rig.world, owner(), 3_000_000_000)
    quote = await rig.bags.trade_quote(WSOL_MINT, USDC_MINT, 2_000_000_000, 50)
    swap = await rig.bags.swap_transaction(quote, rig.signer.public_key)
    assert await rig.rpc.token_balance(owner(), USDC_MINT) == 0
    wire, signature = rig.signer.sign_swap(swap.tx_base58)
    await rig.rpc.send_transaction(wire)
    assert (await rig.rpc.confirm(signature, swap.last_valid_block_height)).state == "confirmed"
    assert await rig.rpc.token_balance(owner(), USDC_MINT) == quote.out_amount
    # 1 signature (5,000) plus the 5,000-lamport priority fee Bags set.
    assert await rig.rpc.balance_lamports(owner()) == 1_000_000_000 - 10_000
    assert chain.balance(rig.world, bags_emulator.pool_address(rig.world)) == 2_000_000_000


async def test_swap_shortfall_is_bounded_by_the_quote_minimum(rig: Rig) -> None:
    chain.set_balance(rig.world, owner(), 3_000_000_000)
    bags_emulator.bags_state(rig.world)["swap_shortfall_bps"] = 500
    quote = await rig.bags.trade_quote(WSOL_MINT, USDC_MINT, 1_000_000_000, 50)
    swap = await rig.bags.swap_transaction(quote, owner())
    wire, _ = rig.signer.sign_swap(swap.tx_base58)
    await rig.rpc.send_transaction(wire)
    assert chain.token_balance(rig.world, owner(), USDC_MINT) == quote.min_out_amount


async def test_unsigned_swap_is_rejected(rig: Rig) -> None:
    chain.set_balance(rig.world, owner(), 3_000_000_000)
    quote = await rig.bags.trade_quote(WSOL_MINT, USDC_MINT, 1_000_000_000, 50)
    swap = await rig.bags.swap_transaction(quote, owner())
    with pytest.raises(RpcError, match="signature verification"):
        await rig.rpc.send_transaction(base58.b58decode(swap.tx_base58))
    assert chain.token_balance(rig.world, owner(), USDC_MINT) == 0


async def test_overdrawn_transfer_fails_preflight(rig: Rig) -> None:
    chain.set_balance(rig.world, owner(), 100_000)  # enough for fees, not for 1 SOL
    quote = await rig.bags.trade_quote(WSOL_MINT, USDC_MINT, 1_000_000_000, 50)
    swap = await rig.bags.swap_transaction(quote, owner())
    wire, _ = rig.signer.sign_swap(swap.tx_base58)
    with pytest.raises(RpcError, match="custom program error: 0x1"):
        await rig.rpc.send_transaction(wire)
    assert chain.balance(rig.world, owner()) == 100_000


async def test_token_accounts_by_owner_in_base64_has_the_spl_layout(rig: Rig) -> None:
    address = chain.credit_token(rig.world, owner(), USDC_MINT, 1_234_567)
    result = await rig.rpc.call(
        "getTokenAccountsByOwner", [owner(), {"mint": USDC_MINT}, {"encoding": "base64"}]
    )
    (account,) = result["value"]
    assert account["pubkey"] == address
    import base64

    data = base64.b64decode(account["account"]["data"][0])
    assert len(data) == 165
    assert data[:32] == bytes(Pubkey.from_string(USDC_MINT))
    assert int.from_bytes(data[64:72], "little") == 1_234_567
    assert await rig.rpc.token_balance(owner(), USDC_MINT) == 1_234_567


async def test_rpc_wants_an_api_key_and_can_fail_on_request(rig: Rig) -> None:
    answer = await rig.http["helius"].post(
        "", params={"api-key": ""}, json={"jsonrpc": "2.0", "id": 1, "method": "getBlockHeight"}
    )
    assert answer.status_code == 401
    chain.inject_failure(rig.world, 429)
    with pytest.raises(UpstreamError, match="429") as caught:
        await rig.rpc.block_height()
    assert caught.value.transient
    assert await rig.rpc.block_height() == chain.block_height(rig.world)


# --- lost answers, duplicate sends, and what a transaction moved --------------------------------


async def test_a_send_applied_then_timed_out_landed_and_a_resend_is_already_processed(
    rig: Rig,
) -> None:
    claim = await fund_and_get_claim(rig)
    wire, signature = rig.signer.sign_claim(claim.tx_base58)
    chain.arm_fault(rig.world, chain.SEND_APPLIED_THEN_TIMEOUT)
    with pytest.raises(UpstreamError, match="timed out") as lost:
        await rig.rpc.send_transaction(wire)
    assert lost.value.transient
    # The answer was lost, not the transaction: it landed and moved the lamports.
    (status,) = await rig.rpc.signature_statuses([signature])
    assert status.state == "confirmed"
    assert chain.balance(rig.world, owner()) == 1_000_000 + 2_000_000_000 - 2 * FEE
    # Sending it again is refused in preflight as the real node does, and nothing moves twice.
    with pytest.raises(RpcError) as again:
        await rig.rpc.send_transaction(wire)
    assert (again.value.code, again.value.transient) == (-32002, False)
    assert again.value.rpc_message == (
        "Transaction simulation failed: This transaction has already been processed"
    )
    assert again.value.data["err"] == "AlreadyProcessed"
    assert again.value.already_processed and not again.value.blockhash_not_found
    assert chain.balance(rig.world, owner()) == 1_000_000 + 2_000_000_000 - 2 * FEE


@pytest.mark.parametrize("status", [500, 502, 503, 504])
async def test_a_send_applied_then_answered_5xx_landed(rig: Rig, status: int) -> None:
    claim = await fund_and_get_claim(rig)
    wire, signature = rig.signer.sign_claim(claim.tx_base58)
    chain.arm_fault(rig.world, chain.Fault("sendTransaction", chain.AFTER_APPLY, status))
    with pytest.raises(UpstreamError) as lost:
        await rig.rpc.send_transaction(wire)
    assert (lost.value.status, lost.value.transient) == (status, True)
    assert (await rig.rpc.signature_statuses([signature]))[0].state == "confirmed"
    assert bags_emulator.claimable_lamports(rig.world, owner()) == 0


async def test_a_fault_failing_before_the_node_applies_moves_nothing(rig: Rig) -> None:
    claim = await fund_and_get_claim(rig)
    wire, signature = rig.signer.sign_claim(claim.tx_base58)
    chain.arm_fault(rig.world, chain.SEND_TIMEOUT)
    with pytest.raises(UpstreamError, match="timed out"):
        await rig.rpc.send_transaction(wire)
    assert (await rig.rpc.signature_statuses([signature]))[0].state == "unknown"
    assert await rig.rpc.send_transaction(wire) == signature  # a plain re-send lands it
    assert bags_emulator.claimable_lamports(rig.world, owner()) == 0


async def test_an_armed_fault_waits_for_its_method_and_names_are_checked(rig: Rig) -> None:
    claim = await fund_and_get_claim(rig)
    wire, _ = rig.signer.sign_claim(claim.tx_base58)
    chain.arm_fault(rig.world, chain.SEND_APPLIED_THEN_502)
    assert await rig.rpc.block_height() == chain.block_height(rig.world)  # not a send: untouched
    with pytest.raises(UpstreamError, match="502"):
        await rig.rpc.send_transaction(wire)
    assert chain.armed_faults(rig.world) == []
    with pytest.raises(ValueError, match="unknown fault"):
        chain.arm_fault(rig.world, "send-lost-somehow")
    with pytest.raises(ValueError, match="stage"):
        chain.Fault("sendTransaction", "sometime", 502)


async def test_get_transaction_meta_shows_what_moved_to_each_account(rig: Rig) -> None:
    claim = await fund_and_get_claim(rig)
    wire, signature = rig.signer.sign_claim(claim.tx_base58)
    await rig.rpc.send_transaction(wire)
    # The claimer paid the fee: what moved to it is its balance change with the fee added back.
    assert await rig.rpc.lamports_received(signature, owner()) == 2_000_000_000
    assert await rig.rpc.lamports_received(signature, vault(rig.world)) == -2_000_000_000
    assert await rig.rpc.lamports_received(signature, str(Keypair().pubkey())) == 0
    raw = await rig.rpc.call(
        "getTransaction",
        [
            signature,
            {"encoding": "json", "commitment": "confirmed", "maxSupportedTransactionVersion": 0},
        ],
    )
    meta = raw["meta"]
    assert meta["fee"] == 2 * FEE and meta["err"] is None and meta["status"] == {"Ok": None}
    keys = raw["transaction"]["message"]["accountKeys"]
    assert keys[0] == owner() and raw["transaction"]["signatures"][0] == signature
    payer = keys.index(owner())
    assert meta["preBalances"][payer] == 1_000_000
    assert meta["postBalances"][payer] == 1_000_000 + 2_000_000_000 - 2 * FEE
    assert (
        raw["version"] == "legacy"
        and raw["slot"] == chain.transaction(rig.world, signature)["slot"]
    )


async def test_get_transaction_of_an_unknown_or_dropped_transaction_is_null(rig: Rig) -> None:
    claim = await fund_and_get_claim(rig)
    wire, signature = rig.signer.sign_claim(claim.tx_base58)
    chain.next_send(rig.world, "dropped")
    await rig.rpc.send_transaction(wire)
    options = {"encoding": "json", "commitment": "confirmed", "maxSupportedTransactionVersion": 0}
    assert await rig.rpc.call("getTransaction", [signature, options]) is None
    with pytest.raises(UpstreamError, match="no landed transaction") as caught:
        await rig.rpc.lamports_received(signature, owner())
    assert caught.value.transient


async def test_get_transaction_of_a_v0_swap_wants_max_supported_version(rig: Rig) -> None:
    chain.set_balance(rig.world, owner(), 3_000_000_000)
    quote = await rig.bags.trade_quote(WSOL_MINT, USDC_MINT, 2_000_000_000, 50)
    swap = await rig.bags.swap_transaction(quote, owner())
    wire, signature = rig.signer.sign_swap(swap.tx_base58)
    await rig.rpc.send_transaction(wire)
    with pytest.raises(RpcError) as caught:
        await rig.rpc.call("getTransaction", [signature, {"commitment": "confirmed"}])
    assert caught.value.code == -32015
    # The default commitment is "finalized": a transaction 32 blocks younger is not served yet.
    assert (
        await rig.rpc.call("getTransaction", [signature, {"maxSupportedTransactionVersion": 0}])
        is None
    )
    # 1 signature plus Bags' 5,000-lamport priority fee, added back: 2 SOL left the claimer.
    assert await rig.rpc.lamports_received(signature, owner()) == -2_000_000_000


GET_TX = {"encoding": "json", "commitment": "confirmed", "maxSupportedTransactionVersion": 0}


async def swap_once(rig: Rig, lamports: int) -> tuple[Any, str]:
    """Quote, sign and send a swap of `lamports` for the owner; its quote and signature."""
    quote = await rig.bags.trade_quote(WSOL_MINT, USDC_MINT, lamports, 50)
    swap = await rig.bags.swap_transaction(quote, owner())
    wire, signature = rig.signer.sign_swap(swap.tx_base58)
    await rig.rpc.send_transaction(wire)
    return quote, signature


async def test_a_swap_that_creates_the_usdc_account_shows_it_only_in_post_token_balances(
    rig: Rig,
) -> None:
    chain.set_balance(rig.world, owner(), 3_000_000_000)
    quote, signature = await swap_once(rig, 2_000_000_000)
    raw = await rig.rpc.call("getTransaction", [signature, GET_TX])
    meta, keys = raw["meta"], raw["transaction"]["message"]["accountKeys"]
    ata = str(get_associated_token_address(OWNER.pubkey(), Pubkey.from_string(USDC_MINT)))
    assert meta["preTokenBalances"] == []  # the account did not exist before
    assert meta["postTokenBalances"] == [
        {
            "accountIndex": keys.index(ata),
            "mint": USDC_MINT,
            "owner": owner(),
            "programId": chain.TOKEN_PROGRAM,
            "uiTokenAmount": {
                "amount": str(quote.out_amount),
                "decimals": 6,
                "uiAmount": quote.out_amount / 10**6,
                "uiAmountString": str(Decimal(quote.out_amount) / 10**6),
            },
        }
    ]
    assert await rig.rpc.token_received(signature, owner(), USDC_MINT) == quote.out_amount
    assert await rig.rpc.token_received(signature, owner(), WSOL_MINT) == 0
    assert await rig.rpc.token_received(signature, str(Keypair().pubkey()), USDC_MINT) == 0


async def test_token_received_counts_one_swap_whatever_else_credits_the_wallet(rig: Rig) -> None:
    chain.set_balance(rig.world, owner(), 5_000_000_000)
    chain.credit_token(rig.world, owner(), USDC_MINT, 0)  # an empty account: uiAmount null
    first_quote, first = await swap_once(rig, 2_000_000_000)
    chain.credit_token(rig.world, owner(), USDC_MINT, 777)  # someone else's transfer lands
    second_quote, second = await swap_once(rig, 1_000_000_000)
    assert await rig.rpc.token_received(first, owner(), USDC_MINT) == first_quote.out_amount
    assert await rig.rpc.token_received(second, owner(), USDC_MINT) == second_quote.out_amount
    total = chain.token_balance(rig.world, owner(), USDC_MINT)
    assert total == first_quote.out_amount + 777 + second_quote.out_amount
    raw = await rig.rpc.call("getTransaction", [first, GET_TX])
    (before,) = raw["meta"]["preTokenBalances"]
    assert before["uiTokenAmount"] == {
        "amount": "0",
        "decimals": 6,
        "uiAmount": None,
        "uiAmountString": "0",
    }


async def test_a_swap_that_landed_failed_moved_no_tokens(rig: Rig) -> None:
    chain.set_balance(rig.world, owner(), 3_000_000_000)
    chain.credit_token(rig.world, owner(), USDC_MINT, 5)
    chain.next_send(rig.world, "landed_failed")
    _, signature = await swap_once(rig, 2_000_000_000)
    raw = await rig.rpc.call("getTransaction", [signature, GET_TX])
    assert raw["meta"]["err"] is not None
    assert raw["meta"]["preTokenBalances"] == raw["meta"]["postTokenBalances"] != []
    assert await rig.rpc.token_received(signature, owner(), USDC_MINT) == 0


async def test_claim_txs_for_a_shared_mint_cover_every_position_of_it(rig: Rig) -> None:
    chain.set_balance(rig.world, owner(), 1_000_000)
    # A pool position and a custom fee vault of one token, with the same amount on purpose.
    bags_emulator.add_claimable_position(rig.world, owner(), MINT, 1_000_000_000)
    bags_emulator.add_claimable_position(rig.world, owner(), MINT, 1_000_000_000, "fee_share_v2")
    positions = await rig.bags.claimable_positions(owner())
    assert [(p.kind, p.base_mint) for p in positions] == [
        ("standard", MINT),
        ("fee_share_v2", MINT),
    ]
    claims = await rig.bags.claim_transactions(owner(), MINT)
    assert len(claims) == 2 and len({c.tx_base58 for c in claims}) == 2
    moved = 0
    for claim in claims:
        wire, signature = rig.signer.sign_claim(claim.tx_base58)
        await rig.rpc.send_transaction(wire)
        moved += await rig.rpc.lamports_received(signature, owner())
    assert moved == 2_000_000_000
    assert bags_emulator.claimable_lamports(rig.world, owner()) == 0
    assert await rig.bags.claimable_positions(owner()) == []
    assert chain.balance(rig.world, owner()) == 1_000_000 + 2_000_000_000 - 4 * FEE


async def test_equal_parts_of_one_position_are_distinct_transactions(rig: Rig) -> None:
    chain.set_balance(rig.world, owner(), 1_000_000)
    bags_emulator.add_claimable_position(rig.world, owner(), MINT, 1_000_000, tx_count=2)
    claims = await rig.bags.claim_transactions(owner(), MINT)
    assert len({c.tx_base58 for c in claims}) == 2
    for claim in claims:
        wire, _ = rig.signer.sign_claim(claim.tx_base58)
        await rig.rpc.send_transaction(wire)
    assert bags_emulator.claimable_lamports(rig.world, owner()) == 0


# --- DAS -------------------------------------------------------------------------------------


async def test_das_pages_until_empty_with_owners_intact(rig: Rig) -> None:
    holders = chain.generate_holders(rig.world, MINT, 1_200, decimals=9)
    accounts = await rig.das.token_accounts(MINT)
    assert rig.world.calls("helius", "getTokenAccounts") == 3  # 1000 + 210 + an empty page
    assert len(accounts) == 1_200 + 5 + 3
    totals: dict[str, int] = {}
    for account in accounts:
        totals[account.owner] = totals.get(account.owner, 0) + account.amount
    assert totals == holders.totals
    assert len({a.address for a in accounts}) == len(accounts)
    multi = [o for o in holders.wallets if sum(a.owner == o for a in accounts) > 1]
    assert len(multi) == 5
    assert all(not Pubkey.from_string(p).is_on_curve() for p in holders.programs)
    assert all(Pubkey.from_string(w).is_on_curve() for w in holders.wallets)
    assert not {a.address for a in accounts} & set(holders.zero_balance_accounts)
    assert await rig.das.mint_decimals(MINT) == 9


async def test_das_zero_balances_on_request_and_limit_cap(rig: Rig) -> None:
    chain.seed_holders(rig.world, MINT, [(owner(), 5), (owner(), 0)])
    body = {"mint": MINT, "page": 1, "limit": 10, "options": {"showZeroBalance": True}}
    assert len((await rig.rpc.call("getTokenAccounts", body))["token_accounts"]) == 2
    with pytest.raises(RpcError, match="at most 1000"):
        await rig.rpc.call("getTokenAccounts", {"mint": MINT, "page": 1, "limit": 1001})
    with pytest.raises(RpcError, match="could not find mint"):
        await rig.das.mint_decimals(OTHER_MINT)


# --- OpenRouter key management ----------------------------------------------------------------


async def test_key_lifecycle(rig: Rig) -> None:
    expires = datetime(2027, 3, 1, tzinfo=UTC)
    created = await rig.keys.create_key("creditbrain-a", Decimal("12.50"), "monthly", expires)
    assert created.plaintext.startswith("sk-or-v1-") and len(created.plaintext) == 9 + 64
    key = created.key
    assert (key.limit, key.limit_remaining, key.usage) == (Decimal("12.5"), Decimal("12.5"), 0)
    assert key.expires_at == expires and key.limit_reset == "monthly"
    assert await rig.keys.get_key(key.hash) == key
    updated = await rig.keys.update_key(key.hash, limit=Decimal(20), disabled=True)
    assert updated.limit == 20 and updated.disabled and updated.updated_at is not None
    assert await rig.keys.delete_key(key.hash) is True
    assert await rig.keys.get_key(key.hash) is None
    assert await rig.keys.delete_key(key.hash) is False
    state = openrouter_emulator.openrouter_state(rig.world)
    assert created.plaintext not in str(state["keys"])  # only the hash is kept


async def test_list_keys_pages_and_includes_disabled(rig: Rig) -> None:
    for index in range(230):
        await rig.keys.create_key(f"k{index}", Decimal(1), None, None)
    first = (await rig.keys.list_keys())[0]
    await rig.keys.update_key(first.hash, disabled=True)
    calls_before = rig.world.calls("openrouter", "GET", "/api/v1/keys")
    listed = await rig.keys.list_keys()
    assert rig.world.calls("openrouter", "GET", "/api/v1/keys") - calls_before == 3
    assert len(listed) == 230 and len({k.hash for k in listed}) == 230
    assert listed[0].name == "k229"  # most recent first
    default = await rig.http["openrouter"].get(
        "keys", headers={"Authorization": "Bearer mgmt-key"}, params={"offset": "0"}
    )
    assert first.hash not in {k["hash"] for k in default.json()["data"]}


async def test_spend_moves_usage_windows_and_remaining(rig: Rig, clock: FrozenClock) -> None:
    clock.set(datetime(2026, 3, 4, 12, tzinfo=UTC))  # a Wednesday
    created = await rig.keys.create_key("h", Decimal(10), "weekly", None)
    assert openrouter_emulator.spend(rig.world, created.key.hash, "3.25") == Decimal("3.25")
    clock.set(datetime(2026, 3, 9, 1, tzinfo=UTC))  # the next Monday: a new week
    openrouter_emulator.spend(rig.world, created.key.hash, 2)
    key = await rig.keys.get_key(created.key.hash)
    assert key is not None
    assert (key.usage, key.usage_daily, key.usage_weekly, key.usage_monthly) == (
        Decimal("5.25"),
        2,
        2,
        Decimal("5.25"),
    )
    assert key.limit_remaining == 8
    # Spending stops at the limit, and the account's usage follows.
    assert openrouter_emulator.spend(rig.world, created.key.hash, 100) == 8
    credits = await rig.keys.credits()
    assert credits.total_usage == Decimal("13.25")
    assert credits.balance == Decimal("86.75")


async def test_key_validation_errors_like_the_real_api(rig: Rig) -> None:
    auth = {"Authorization": "Bearer mgmt-key"}
    post = rig.http["openrouter"].post
    bad_reset = await post("keys", headers=auth, json={"name": "x", "limit_reset": "2026-04-01"})
    assert bad_reset.status_code == 400
    assert bad_reset.json()["error"]["code"] == 400
    not_utc = await post(
        "keys", headers=auth, json={"name": "x", "expires_at": "2027-01-01T00:00:00+02:00"}
    )
    assert not_utc.status_code == 400 and "UTC" in not_utc.json()["error"]["message"]
    naive = await post(
        "keys", headers=auth, json={"name": "x", "expires_at": "2027-01-01T00:00:00"}
    )
    assert naive.status_code == 400
    coinbase = await post("credits/coinbase", headers=auth, json={"amount": 200})
    assert coinbase.status_code == 410
    assert openrouter_emulator.openrouter_state(rig.world)["keys"] == {}


async def test_only_a_management_key_manages_keys(rig: Rig) -> None:
    created = await rig.keys.create_key("h", Decimal(1), None, None)
    holder = OpenRouterKeys(rig.http["openrouter"], created.plaintext)
    with pytest.raises(UpstreamError, match="401") as caught:
        await holder.list_keys()
    assert created.plaintext not in str(caught.value)
    answer = await rig.http["openrouter"].get("keys")
    assert answer.status_code == 401


async def test_injected_openrouter_failure_is_transient(rig: Rig) -> None:
    openrouter_emulator.inject_failure(rig.world, 502)
    with pytest.raises(UpstreamError) as caught:
        await rig.keys.credits()
    assert caught.value.transient and caught.value.status == 502
    assert (await rig.keys.credits()).total_credits == 100


async def test_models_and_credits_still_served(rig: Rig) -> None:
    models = await rig.http["openrouter"].get("models")
    assert isinstance(models.json()["data"], list)
    credits = await rig.http["openrouter"].get("credits", headers={"Authorization": "Bearer x"})
    assert credits.json() == {"data": {"total_credits": 100.0, "total_usage": 0.0}}


# --- wiring through the context --------------------------------------------------------------


@pytest.fixture
def settings(make_settings: Callable[..., Settings]) -> Settings:
    return make_settings(
        BAGS_API_KEY="bags-key",
        HELIUS_API_KEY="helius-key",
        OPENROUTER_MANAGEMENT_KEY="mgmt-key",
        SIGNER_PRIVATE_KEY=str(OWNER),
    )


async def test_the_context_holds_one_clients_bundle_that_runs_a_claim(ctx: Context) -> None:
    clients = ctx.clients
    assert isinstance(clients, Clients)
    assert ctx.clients is clients
    assert clients.signer is not None and clients.signer.public_key == owner()
    assert "bags-key" not in repr(clients) and "mgmt-key" not in repr(clients)
    assert ctx.sandbox is not None
    world: World = ctx.sandbox.world
    chain.set_balance(world, owner(), 1_000_000)
    bags_emulator.add_claimable_position(world, owner(), MINT, 10_000_000, "fee_share_v2")
    (position,) = await clients.bags.claimable_positions(owner())
    (claim,) = await clients.bags.claim_transactions(owner(), position.base_mint)
    wire, signature = clients.signer.sign_claim(claim.tx_base58)
    await clients.solana.send_transaction(wire)
    assert (
        await clients.solana.confirm(signature, claim.last_valid_block_height)
    ).state == "confirmed"
    assert await clients.solana.balance_lamports(owner()) == 1_000_000 + 10_000_000 - 2 * FEE
    assert (await clients.keys.credits()).total_credits == 100


async def test_signer_is_none_without_a_key(
    make_settings: Callable[..., Settings], clock: FrozenClock
) -> None:
    from arenabrain.clients.http import build_upstreams

    settings = make_settings(SIGNER_PRIVATE_KEY="")
    http = build_upstreams(settings, Sandbox(World(clock=clock)).transports())
    try:
        assert build_clients(settings, http, clock, FakeSleep()).signer is None
    finally:
        await http.aclose()
