"""The Bags client against respx-mocked responses: envelopes, position kinds, quotes, swaps,
errors, and the shared rate limiter (with a fake sleep that advances a frozen clock)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from decimal import Decimal

import httpx
import pytest
import respx

from arenabrain.clients.bags import (
    FEE_SHARE_V1_PROGRAM,
    FEE_SHARE_V2_PROGRAM,
    BagsClient,
    BagsRateLimiter,
    SwapQuote,
    lamports,
)
from arenabrain.clients.errors import UpstreamError
from arenabrain.clients.solana import USDC_MINT, WSOL_MINT
from arenabrain.clock import FrozenClock
from tests.conftest import FakeSleep

BASE = "https://public-api-v2.bags.fm/api/v1"
WALLET = "5xKpPqREhiP1B6d3wTgs8MTwbLj5GhXFsJAiGbrZkE2E"
MINT = "7GCihgDB8fe6KNjn2MYtkzZcRjQy3t9GHdC8uHYmW2hr"
START = datetime(2026, 3, 1, tzinfo=UTC)


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(START)


@pytest.fixture
def sleep(clock: FrozenClock) -> FakeSleep:
    return FakeSleep(clock)


@pytest.fixture
def limiter(clock: FrozenClock, sleep: FakeSleep) -> BagsRateLimiter:
    return BagsRateLimiter(clock, sleep)


@pytest.fixture
async def bags(limiter: BagsRateLimiter) -> AsyncIterator[BagsClient]:
    async with httpx.AsyncClient(base_url=BASE + "/") as http:
        yield BagsClient(http, "bags-key", limiter)


def ok(payload: object, **headers: str) -> httpx.Response:
    return httpx.Response(200, json={"success": True, "response": payload}, headers=headers)


STANDARD = {
    "isCustomFeeVault": False,
    "baseMint": MINT,
    "virtualPool": "9xQeWvG816bUx9EPjHmaT23yvVM2ZWbrrpZb9PusVFin",
    "virtualPoolAddress": "9xQeWvG816bUx9EPjHmaT23yvVM2ZWbrrpZb9PusVFin",
    "virtualPoolClaimableAmount": 4200000000,
    "dammPoolClaimableAmount": "1800000000",
    "isMigrated": True,
}
FEE_SHARE_V1 = {
    "isCustomFeeVault": True,
    "programId": FEE_SHARE_V1_PROGRAM,
    "baseMint": "2b1kV6DkPAnxd5ixfnxCpjxmKwqjjaYmCZfHsFu24GXo",
    "virtualPool": "GPy7cVSyzxe6NDzo4AcFgNMHmRqdjTUmTNrxWPStnShs",
    "virtualPoolClaimableLamportsUserShare": "700000000",
    "dammPoolClaimableLamportsUserShare": "300000000",
    "totalClaimableLamportsUserShare": "1000000000",
}
FEE_SHARE_V2 = {
    "isCustomFeeVault": True,
    "programId": FEE_SHARE_V2_PROGRAM,
    "user": WALLET,
    "baseMint": "3kV6DkPAnxd5ixfnxCpjxmKwqjjaYmCZfHsFu24GXo2b",
    "virtualPoolClaimableLamportsUserShare": 100000000,
    "dammPoolClaimableLamportsUserShare": 50000000,
    "totalClaimableLamportsUserShare": 150000000,
    "claimerIndex": 0,
    "userBps": 5000,
}
QUOTE = {
    "requestId": "q_01HZX3M9K2",
    "contextSlot": 312449800,
    "inAmount": "10000000000",
    "inputMint": WSOL_MINT,
    "outAmount": "1412350000",
    "outputMint": USDC_MINT,
    "minOutAmount": "1405288250",
    "otherAmountThreshold": "1405288250",
    "priceImpactPct": "0.02",
    "slippageBps": 50,
    "routePlan": [],
}


@respx.mock
async def test_positions_of_three_kinds_with_string_amounts(bags: BagsClient) -> None:
    route = respx.get(f"{BASE}/token-launch/claimable-positions").mock(
        return_value=ok([STANDARD, FEE_SHARE_V1, FEE_SHARE_V2])
    )
    positions = await bags.claimable_positions(WALLET)
    request = route.calls.last.request
    assert request.url.params["wallet"] == WALLET
    assert request.headers["x-api-key"] == "bags-key"
    assert [(p.kind, p.base_mint, p.claimable_lamports) for p in positions] == [
        ("standard", MINT, 6_000_000_000),
        ("fee_share_v1", FEE_SHARE_V1["baseMint"], 1_000_000_000),
        ("fee_share_v2", FEE_SHARE_V2["baseMint"], 150_000_000),
    ]
    assert positions[0].virtual_pool == STANDARD["virtualPoolAddress"]
    assert positions[2].raw == FEE_SHARE_V2


@respx.mock
async def test_fee_share_without_total_sums_its_two_pools(bags: BagsClient) -> None:
    item = {k: v for k, v in FEE_SHARE_V2.items() if k != "totalClaimableLamportsUserShare"}
    respx.get(f"{BASE}/token-launch/claimable-positions").mock(return_value=ok([item]))
    (position,) = await bags.claimable_positions(WALLET)
    assert position.claimable_lamports == 150_000_000


@respx.mock
async def test_unknown_fee_share_program_is_an_error(bags: BagsClient) -> None:
    item = dict(FEE_SHARE_V2, programId="Unknown1111111111111111111111111111111111111")
    respx.get(f"{BASE}/token-launch/claimable-positions").mock(return_value=ok([item]))
    with pytest.raises(UpstreamError, match="unknown fee-share program"):
        await bags.claimable_positions(WALLET)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [(5, 5), ("5", 5), (" 7 ", 7), (4200000000.0, 4200000000), ("4.2e9", 4200000000)],
)
def test_amounts_parse_from_numbers_and_strings(raw: object, expected: int) -> None:
    assert lamports(raw) == expected


@pytest.mark.parametrize("raw", [None, True, "abc", "1.5", -1, "NaN"])
def test_bad_amounts_are_rejected(raw: object) -> None:
    with pytest.raises(ValueError):
        lamports(raw)


@respx.mock
async def test_claim_transactions_request_and_parse(bags: BagsClient) -> None:
    route = respx.post(f"{BASE}/token-launch/claim-txs/v3").mock(
        return_value=ok(
            [{"tx": "3Bxs4", "blockhash": {"blockhash": "EkSn", "lastValidBlockHeight": "289"}}]
        )
    )
    (tx,) = await bags.claim_transactions(WALLET, MINT)
    assert json.loads(route.calls.last.request.content) == {
        "feeClaimer": WALLET,
        "tokenMint": MINT,
    }
    assert (tx.tx_base58, tx.blockhash, tx.last_valid_block_height) == ("3Bxs4", "EkSn", 289)


@respx.mock
async def test_claim_transactions_of_a_mint_keep_every_position_in_order(
    bags: BagsClient,
) -> None:
    """One request per mint answers the transactions of all its positions (a pool position,
    then a custom fee vault): none is dropped or merged."""
    items = [
        {"tx": f"tx{i}", "blockhash": {"blockhash": "EkSn", "lastValidBlockHeight": 289}}
        for i in range(3)
    ]
    route = respx.post(f"{BASE}/token-launch/claim-txs/v3").mock(return_value=ok(items))
    txs = await bags.claim_transactions(WALLET, MINT)
    assert [t.tx_base58 for t in txs] == ["tx0", "tx1", "tx2"]
    assert route.call_count == 1


@respx.mock
async def test_quote_sends_string_amounts_and_manual_slippage(bags: BagsClient) -> None:
    route = respx.get(f"{BASE}/trade/quote").mock(return_value=ok(QUOTE))
    quote = await bags.trade_quote(WSOL_MINT, USDC_MINT, 10_000_000_000, 50)
    params = route.calls.last.request.url.params
    assert dict(params) == {
        "inputMint": WSOL_MINT,
        "outputMint": USDC_MINT,
        "amount": "10000000000",
        "slippageMode": "manual",
        "slippageBps": "50",
    }
    assert quote == SwapQuote(
        request_id="q_01HZX3M9K2",
        in_amount=10_000_000_000,
        out_amount=1_412_350_000,
        min_out_amount=1_405_288_250,
        price_impact_pct=Decimal("0.02"),
        slippage_bps=50,
    )
    assert quote.raw == QUOTE


@respx.mock
async def test_swap_posts_the_raw_quote_back(bags: BagsClient) -> None:
    quote = SwapQuote("q", 1, 2, 2, Decimal(0), 50, raw=QUOTE)
    route = respx.post(f"{BASE}/trade/swap").mock(
        return_value=ok(
            {
                "swapTransaction": "4hXy",
                "computeUnitLimit": 200000,
                "lastValidBlockHeight": 312449990,
                "prioritizationFeeLamports": 5000,
            }
        )
    )
    swap = await bags.swap_transaction(quote, WALLET)
    assert json.loads(route.calls.last.request.content) == {
        "quoteResponse": QUOTE,
        "userPublicKey": WALLET,
    }
    assert (swap.tx_base58, swap.last_valid_block_height) == ("4hXy", 312449990)


@pytest.mark.parametrize(
    ("response", "match", "transient"),
    [
        (
            httpx.Response(200, json={"success": False, "error": "Token not found"}),
            "Token not found",
            False,
        ),
        (
            httpx.Response(400, json={"success": False, "error": "Invalid wallet address format"}),
            "400: Invalid wallet",
            False,
        ),
        (httpx.Response(401, json={"success": False, "error": "Invalid API key"}), "401", False),
        (httpx.Response(503, text="upstream down"), "503", True),
        (httpx.Response(200, json=[1, 2]), "success envelope", False),
        (httpx.Response(200, json={"success": True}), "no response", False),
        (httpx.Response(200, text="<html>"), "success envelope", False),
    ],
    ids=["success-false", "400", "401", "503", "bare-array", "no-response", "not-json"],
)
@respx.mock
async def test_envelope_errors(
    bags: BagsClient, response: httpx.Response, match: str, transient: bool
) -> None:
    respx.get(f"{BASE}/token-launch/claimable-positions").mock(return_value=response)
    with pytest.raises(UpstreamError, match=match) as caught:
        await bags.claimable_positions(WALLET)
    assert caught.value.upstream == "bags"
    assert caught.value.transient is transient
    assert "bags-key" not in str(caught.value)


@respx.mock
async def test_timeout_is_transient(bags: BagsClient) -> None:
    respx.get(f"{BASE}/trade/quote").mock(side_effect=httpx.ReadTimeout("slow"))
    with pytest.raises(UpstreamError, match="timed out") as caught:
        await bags.trade_quote(WSOL_MINT, USDC_MINT, 1, 50)
    assert caught.value.transient


async def test_missing_api_key_fails_without_a_request(limiter: BagsRateLimiter) -> None:
    async with httpx.AsyncClient(base_url=BASE + "/") as http:
        client = BagsClient(http, "", limiter)
        with respx.mock(assert_all_called=False) as mock:
            route = mock.get(f"{BASE}/token-launch/claimable-positions")
            with pytest.raises(UpstreamError, match="BAGS_API_KEY"):
                await client.claimable_positions(WALLET)
            assert route.call_count == 0


# --- the rate limiter ------------------------------------------------------------------------


@respx.mock
async def test_waits_until_reset_when_remaining_hits_zero(
    bags: BagsClient, sleep: FakeSleep, clock: FrozenClock
) -> None:
    reset = int(START.timestamp()) + 120
    respx.get(f"{BASE}/token-launch/claimable-positions").mock(
        side_effect=[
            ok([], **{"X-RateLimit-Remaining": "1", "X-RateLimit-Reset": str(reset)}),
            ok([], **{"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": str(reset)}),
            ok([], **{"X-RateLimit-Remaining": "999", "X-RateLimit-Reset": str(reset + 3600)}),
        ]
    )
    await bags.claimable_positions(WALLET)
    await bags.claimable_positions(WALLET)
    assert sleep.waits == []
    await bags.claimable_positions(WALLET)
    assert sleep.waits == [120.0]
    assert clock.now().timestamp() == reset


@respx.mock
async def test_429_honours_retry_after_then_succeeds(bags: BagsClient, sleep: FakeSleep) -> None:
    route = respx.get(f"{BASE}/token-launch/claimable-positions").mock(
        side_effect=[
            httpx.Response(
                429,
                json={"success": False, "error": "Rate limit exceeded"},
                headers={"Retry-After": "7"},
            ),
            ok([STANDARD]),
        ]
    )
    positions = await bags.claimable_positions(WALLET)
    assert len(positions) == 1
    assert route.call_count == 2
    assert sleep.waits == [7.0]


@respx.mock
async def test_429_without_retry_after_waits_for_the_reset(
    bags: BagsClient, sleep: FakeSleep
) -> None:
    reset = int(START.timestamp()) + 30
    respx.get(f"{BASE}/trade/quote").mock(
        side_effect=[
            httpx.Response(
                429,
                json={"success": False, "error": "Rate limit exceeded"},
                headers={"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": str(reset)},
            ),
            ok(QUOTE),
        ]
    )
    await bags.trade_quote(WSOL_MINT, USDC_MINT, 10_000_000_000, 50)
    assert sleep.waits == [30.0]


@respx.mock
async def test_persistent_429_gives_up_as_transient(bags: BagsClient, sleep: FakeSleep) -> None:
    limited = httpx.Response(
        429, json={"success": False, "error": "Rate limit exceeded"}, headers={"Retry-After": "2"}
    )
    route = respx.get(f"{BASE}/trade/quote").mock(return_value=limited)
    with pytest.raises(UpstreamError, match="429") as caught:
        await bags.trade_quote(WSOL_MINT, USDC_MINT, 1, 50)
    assert caught.value.transient and caught.value.status == 429
    assert route.call_count == 3
    assert sleep.waits == [2.0, 2.0]


async def test_rolling_window_caps_requests_per_hour(clock: FrozenClock, sleep: FakeSleep) -> None:
    limiter = BagsRateLimiter(clock, sleep, limit=3, window_seconds=3600)
    for _ in range(3):
        await limiter.acquire()
        clock.advance(seconds=10)
    await limiter.acquire()  # the first request leaves the window at t=3600
    assert sleep.waits == [3600 - 30]


async def test_low_priority_keeps_a_reserve_for_the_pipeline(
    clock: FrozenClock, sleep: FakeSleep
) -> None:
    limiter = BagsRateLimiter(clock, sleep)
    limiter.update(
        {"X-RateLimit-Remaining": "100", "X-RateLimit-Reset": str(int(START.timestamp()) + 60)},
        200,
    )
    await limiter.acquire("high")
    assert sleep.waits == []
    await limiter.acquire("low")
    assert sleep.waits == [60.0]


async def test_one_limiter_is_shared_by_two_clients(
    limiter: BagsRateLimiter, sleep: FakeSleep
) -> None:
    reset = int(START.timestamp()) + 45
    async with httpx.AsyncClient(base_url=BASE + "/") as http:
        first, second = BagsClient(http, "k", limiter), BagsClient(http, "k", limiter)
        with respx.mock:
            respx.get(f"{BASE}/token-launch/claimable-positions").mock(
                return_value=ok(
                    [], **{"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": str(reset)}
                )
            )
            await first.claimable_positions(WALLET)
            await second.claimable_positions(WALLET)
    assert sleep.waits == [45.0]
