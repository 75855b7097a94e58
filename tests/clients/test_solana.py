"""The Solana JSON-RPC client against respx: request shapes, statuses, errors, confirm()."""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest
import respx

from arenabrain.clients.errors import UpstreamError
from arenabrain.clients.solana import (
    ConfirmationTimeout,
    RpcError,
    SignatureStatus,
    SolanaRpc,
    is_expired,
)
from tests.conftest import FakeSleep

URL = "https://mainnet.helius-rpc.com/"
SIG = "5hV9mG3kzvG"


@pytest.fixture
def sleep() -> FakeSleep:
    return FakeSleep()


@pytest.fixture
async def rpc(sleep: FakeSleep) -> AsyncIterator[SolanaRpc]:
    async with httpx.AsyncClient(base_url=URL, params={"api-key": "hk"}) as http:
        yield SolanaRpc(http, sleep=sleep, poll_interval=0.5, max_wait=5.0)


def result(value: Any) -> httpx.Response:
    return httpx.Response(200, json={"jsonrpc": "2.0", "id": 1, "result": value})


def rpc_error(code: int, message: str, data: Any = None) -> httpx.Response:
    error: dict[str, Any] = {"code": code, "message": message}
    if data is not None:
        error["data"] = data
    return httpx.Response(200, json={"jsonrpc": "2.0", "id": 1, "error": error})


def statuses(*values: Any) -> httpx.Response:
    return result({"context": {"slot": 312449900}, "value": list(values)})


def by_method(answers: dict[str, Callable[[], httpx.Response]]) -> Callable[..., httpx.Response]:
    def answer(request: httpx.Request) -> httpx.Response:
        return answers[json.loads(request.content)["method"]]()

    return answer


@respx.mock
async def test_send_transaction_shape(rpc: SolanaRpc) -> None:
    route = respx.post(URL).mock(return_value=result(SIG))
    assert await rpc.send_transaction(b"\x01wire") == SIG
    body = json.loads(route.calls.last.request.content)
    assert body["method"] == "sendTransaction"
    assert body["params"] == [
        base64.b64encode(b"\x01wire").decode(),
        {
            "encoding": "base64",
            "skipPreflight": False,
            "preflightCommitment": "confirmed",
            "maxRetries": 3,
        },
    ]
    assert route.calls.last.request.url.params["api-key"] == "hk"


@respx.mock
async def test_blockhash_height_and_balances(rpc: SolanaRpc) -> None:
    parsed = {
        "pubkey": "Ata1",
        "account": {"data": {"parsed": {"info": {"tokenAmount": {"amount": "1500000"}}}}},
    }
    raw_account = {"pubkey": "Ata2", "account": {"data": ["AAAA", "base64"]}}
    respx.post(URL).mock(
        side_effect=by_method(
            {
                "getLatestBlockhash": lambda: result(
                    {
                        "context": {"slot": 9},
                        "value": {"blockhash": "EkSn", "lastValidBlockHeight": 300},
                    }
                ),
                "getBlockHeight": lambda: result(150),
                "getBalance": lambda: result({"context": {"slot": 9}, "value": 7_000}),
                "getTokenAccountsByOwner": lambda: result(
                    {"context": {"slot": 9}, "value": [parsed, raw_account]}
                ),
                "getTokenAccountBalance": lambda: result(
                    {"context": {"slot": 9}, "value": {"amount": "250", "decimals": 6}}
                ),
            }
        )
    )
    assert await rpc.latest_blockhash() == ("EkSn", 300)
    assert await rpc.block_height() == 150
    assert await rpc.balance_lamports("Owner") == 7_000
    assert await rpc.token_balance("Owner", "Mint") == 1_500_250


@respx.mock
async def test_statuses_in_order_with_err_as_failed(rpc: SolanaRpc) -> None:
    route = respx.post(URL).mock(
        return_value=statuses(
            {"slot": 1, "confirmations": 0, "err": None, "confirmationStatus": "confirmed"},
            None,
            {
                "slot": 2,
                "confirmations": 1,
                "err": {"InstructionError": [0, {"Custom": 1}]},
                "confirmationStatus": "confirmed",
            },
            {"slot": 3, "confirmations": None, "err": None, "confirmationStatus": "finalized"},
            {"slot": 4, "confirmations": None, "err": None},
        )
    )
    got = await rpc.signature_statuses(["a", "b", "c", "d", "e"])
    assert got == [
        SignatureStatus("a", "confirmed"),
        SignatureStatus("b", "unknown"),
        SignatureStatus("c", "failed", '{"InstructionError":[0,{"Custom":1}]}'),
        SignatureStatus("d", "finalized"),
        SignatureStatus("e", "finalized"),
    ]
    params = json.loads(route.calls.last.request.content)["params"]
    assert params == [["a", "b", "c", "d", "e"], {"searchTransactionHistory": True}]


@pytest.mark.parametrize(
    ("response", "transient", "kind"),
    [
        (rpc_error(-32005, "Node is behind by 42 slots"), True, RpcError),
        (
            rpc_error(-32002, "Transaction simulation failed: Insufficient funds for fee"),
            False,
            RpcError,
        ),
        (httpx.Response(429, text="Too many requests"), True, UpstreamError),
        (httpx.Response(503, text="down"), True, UpstreamError),
        (
            httpx.Response(
                401,
                json={"jsonrpc": "2.0", "error": {"code": -32401, "message": "invalid api key"}},
            ),
            False,
            UpstreamError,
        ),
        (httpx.Response(200, text="not json"), False, UpstreamError),
        (result(None), False, UpstreamError),
    ],
    ids=["node-behind", "preflight", "429", "503", "401", "not-json", "null-result"],
)
@respx.mock
async def test_errors(
    rpc: SolanaRpc, response: httpx.Response, transient: bool, kind: type
) -> None:
    respx.post(URL).mock(return_value=response)
    with pytest.raises(kind) as caught:
        await rpc.send_transaction(b"x")
    assert caught.value.upstream == "solana"
    assert caught.value.transient is transient


@respx.mock
async def test_blockhash_not_found_is_recognisable(rpc: SolanaRpc) -> None:
    respx.post(URL).mock(
        return_value=rpc_error(
            -32002,
            "Transaction simulation failed: Blockhash not found",
            {"err": "BlockhashNotFound"},
        )
    )
    with pytest.raises(RpcError) as caught:
        await rpc.send_transaction(b"x")
    assert caught.value.blockhash_not_found and caught.value.code == -32002


@pytest.mark.parametrize(
    ("message", "data", "expected"),
    [
        (
            "Transaction simulation failed: This transaction has already been processed",
            {"err": "AlreadyProcessed", "logs": [], "accounts": None},
            True,
        ),
        ("Transaction simulation failed: ...", {"err": "AlreadyProcessed"}, True),
        ("Transaction simulation failed: Blockhash not found", {"err": "BlockhashNotFound"}, False),
        ("Transaction simulation failed: Insufficient funds for fee", None, False),
    ],
    ids=["message-and-data", "data-only", "blockhash", "funds"],
)
@respx.mock
async def test_already_processed_is_recognisable(
    rpc: SolanaRpc, message: str, data: Any, expected: bool
) -> None:
    respx.post(URL).mock(return_value=rpc_error(-32002, message, data))
    with pytest.raises(RpcError) as caught:
        await rpc.send_transaction(b"x")
    assert caught.value.already_processed is expected
    assert not caught.value.transient


def transaction(keys: list[str], pre: list[int], post: list[int], **meta: Any) -> dict[str, Any]:
    return {
        "slot": 312449901,
        "blockTime": 1772323200,
        "version": 0,
        "transaction": {"signatures": [SIG], "message": {"accountKeys": keys}},
        "meta": {"err": None, "fee": 10_000, "preBalances": pre, "postBalances": post, **meta},
    }


@respx.mock
async def test_lamports_received_reads_the_meta_balances(rpc: SolanaRpc) -> None:
    route = respx.post(URL).mock(
        return_value=result(
            transaction(
                ["Payer", "Vault", "Program"],
                [1_000_000, 2_000_000_000, 1, 50, 7],
                [2_000_990_000, 0, 1, 80, 7],
                loadedAddresses={"writable": ["Pool"], "readonly": ["Table"]},
            )
        )
    )
    # The payer's change plus the fee it paid; others' plain change; loaded addresses count.
    assert await rpc.lamports_received(SIG, "Payer") == 2_000_000_000
    assert await rpc.lamports_received(SIG, "Vault") == -2_000_000_000
    assert await rpc.lamports_received(SIG, "Pool") == 30
    assert await rpc.lamports_received(SIG, "Stranger") == 0
    body = json.loads(route.calls.last.request.content)
    assert body["method"] == "getTransaction"
    assert body["params"] == [
        SIG,
        {"encoding": "json", "commitment": "confirmed", "maxSupportedTransactionVersion": 0},
    ]


@respx.mock
async def test_lamports_received_of_an_invisible_transaction_is_transient(rpc: SolanaRpc) -> None:
    respx.post(URL).mock(return_value=result(None))
    with pytest.raises(UpstreamError, match="no landed transaction") as caught:
        await rpc.lamports_received(SIG, "Payer")
    assert caught.value.transient


@pytest.mark.parametrize(
    "value",
    [
        {"meta": {}},
        transaction(["Payer"], [1, 2], [1, 2]),
        transaction(["Payer"], ["x"], [1]),
        "not an object",
    ],
    ids=["no-balances", "length-mismatch", "not-a-number", "not-an-object"],
)
@respx.mock
async def test_lamports_received_rejects_a_malformed_answer(rpc: SolanaRpc, value: Any) -> None:
    respx.post(URL).mock(return_value=result(value))
    with pytest.raises(UpstreamError, match="malformed") as caught:
        await rpc.lamports_received(SIG, "Payer")
    assert not caught.value.transient


USDC = "EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v"
WSOL = "So11111111111111111111111111111111111111112"


def token_balance(index: int, mint: str, owner: str, amount: str) -> dict[str, Any]:
    """One entry of meta pre/postTokenBalances as the RPC renders it."""
    ui = None if amount == "0" else int(amount) / 10**6
    return {
        "accountIndex": index,
        "mint": mint,
        "owner": owner,
        "programId": "TokenkegQfeZyiNwAJbNbGKPFXCWuBvf9Ss623VQ5DA",
        "uiTokenAmount": {
            "amount": amount,
            "decimals": 6,
            "uiAmount": ui,
            "uiAmountString": str(int(amount) / 10**6),
        },
    }


def swap_transaction(pre: list[Any], post: list[Any], **meta: Any) -> dict[str, Any]:
    """A swap: Payer's USDC account (1) and wSOL account (3), a pool's USDC account (2), and
    another owner's USDC account loaded from a lookup table (5)."""
    keys = ["Payer", "PayerUsdc", "PoolUsdc", "PayerWsol", "Program"]
    balances = [1_000_000_000, 2_039_280, 2_039_280, 2_039_280, 1, 2_039_280]
    return transaction(
        keys,
        balances,
        balances,
        loadedAddresses={"writable": ["OtherUsdc"], "readonly": []},
        preTokenBalances=pre,
        postTokenBalances=post,
        **meta,
    )


@respx.mock
async def test_token_received_counts_the_owners_accounts_of_the_mint_in_this_transaction(
    rpc: SolanaRpc,
) -> None:
    respx.post(URL).mock(
        return_value=result(
            swap_transaction(
                [
                    token_balance(1, USDC, "Payer", "1000000"),
                    token_balance(2, USDC, "Pool", "900000000000"),
                    token_balance(3, WSOL, "Payer", "1500000000"),
                    token_balance(5, USDC, "Other", "7"),
                ],
                [
                    token_balance(1, USDC, "Payer", "224966250"),
                    token_balance(2, USDC, "Pool", "899776033750"),
                    token_balance(5, USDC, "Other", "9"),
                ],
            )
        )
    )
    assert await rpc.token_received(SIG, "Payer", USDC) == 223_966_250
    assert await rpc.token_received(SIG, "Pool", USDC) == -223_966_250
    assert await rpc.token_received(SIG, "Other", USDC) == 2  # a loaded address counts too
    assert await rpc.token_received(SIG, "Payer", WSOL) == -1_500_000_000  # closed: 0 after
    assert await rpc.token_received(SIG, "Stranger", USDC) == 0


@respx.mock
async def test_token_received_counts_an_account_the_transaction_created_from_zero(
    rpc: SolanaRpc,
) -> None:
    respx.post(URL).mock(
        return_value=result(
            swap_transaction(
                [token_balance(2, USDC, "Pool", "900000000000")],
                [
                    token_balance(1, USDC, "Payer", "224966250"),
                    token_balance(2, USDC, "Pool", "899775033750"),
                ],
            )
        )
    )
    assert await rpc.token_received(SIG, "Payer", USDC) == 224_966_250


@respx.mock
async def test_token_received_of_an_invisible_transaction_is_transient(rpc: SolanaRpc) -> None:
    respx.post(URL).mock(return_value=result(None))
    with pytest.raises(UpstreamError, match="no landed transaction") as caught:
        await rpc.token_received(SIG, "Payer", USDC)
    assert caught.value.transient


GOOD = token_balance(1, USDC, "Payer", "5")


@pytest.mark.parametrize(
    ("pre", "post"),
    [
        (None, [GOOD]),
        ([GOOD], None),
        ([GOOD], [{**GOOD, "uiTokenAmount": {**GOOD["uiTokenAmount"], "amount": 5}}]),
        ([GOOD], [{**GOOD, "uiTokenAmount": {**GOOD["uiTokenAmount"], "amount": "5.0"}}]),
        ([GOOD], [{**GOOD, "uiTokenAmount": {**GOOD["uiTokenAmount"], "amount": "-5"}}]),
        ([GOOD], [{**GOOD, "accountIndex": 6}]),
        ([GOOD], [{**GOOD, "accountIndex": True}]),
        ([GOOD], [GOOD, GOOD]),
        ([GOOD], [{k: v for k, v in GOOD.items() if k != "owner"}]),
        ([GOOD], [{k: v for k, v in GOOD.items() if k != "uiTokenAmount"}]),
        ([GOOD], "not a list"),
    ],
    ids=[
        "no-pre-balances",
        "no-post-balances",
        "amount-a-number",
        "amount-a-decimal",
        "amount-negative",
        "index-out-of-range",
        "index-a-bool",
        "account-twice",
        "no-owner",
        "no-amount",
        "not-a-list",
    ],
)
@respx.mock
async def test_token_received_rejects_malformed_token_balances(
    rpc: SolanaRpc, pre: Any, post: Any
) -> None:
    respx.post(URL).mock(return_value=result(swap_transaction(pre, post)))
    with pytest.raises(UpstreamError, match="malformed") as caught:
        await rpc.token_received(SIG, "Payer", USDC)
    assert not caught.value.transient


@respx.mock
async def test_timeout_is_transient(rpc: SolanaRpc) -> None:
    respx.post(URL).mock(side_effect=httpx.ReadTimeout("slow"))
    with pytest.raises(UpstreamError, match="timed out") as caught:
        await rpc.block_height()
    assert caught.value.transient


@respx.mock
async def test_confirm_polls_until_confirmed(rpc: SolanaRpc, sleep: FakeSleep) -> None:
    replies = iter(
        [
            statuses(None),
            statuses(
                {"slot": 5, "confirmations": 0, "err": None, "confirmationStatus": "processed"}
            ),
            statuses(
                {"slot": 5, "confirmations": 1, "err": None, "confirmationStatus": "confirmed"}
            ),
        ]
    )
    respx.post(URL).mock(
        side_effect=by_method(
            {"getSignatureStatuses": lambda: next(replies), "getBlockHeight": lambda: result(100)}
        )
    )
    status = await rpc.confirm(SIG, 250)
    assert status == SignatureStatus(SIG, "confirmed")
    assert sleep.waits == [0.5, 0.5]


@respx.mock
async def test_confirm_returns_failed_with_the_error(rpc: SolanaRpc) -> None:
    respx.post(URL).mock(
        return_value=statuses(
            {
                "slot": 5,
                "confirmations": 0,
                "err": "InsufficientFundsForFee",
                "confirmationStatus": "confirmed",
            }
        )
    )
    status = await rpc.confirm(SIG, 250)
    assert (status.state, status.error) == ("failed", "InsufficientFundsForFee")
    assert not is_expired(status)


@respx.mock
async def test_confirm_reports_expiry_once_the_height_passes(
    rpc: SolanaRpc, sleep: FakeSleep
) -> None:
    heights = iter([249, 250, 251])
    respx.post(URL).mock(
        side_effect=by_method(
            {
                "getSignatureStatuses": lambda: statuses(None),
                "getBlockHeight": lambda: result(next(heights)),
            }
        )
    )
    status = await rpc.confirm(SIG, 250)
    assert status.state == "unknown" and is_expired(status)
    assert "251" in (status.error or "")
    assert sleep.waits == [0.5, 0.5]


@respx.mock
async def test_confirm_times_out_while_the_blockhash_is_valid(
    rpc: SolanaRpc, sleep: FakeSleep
) -> None:
    respx.post(URL).mock(
        side_effect=by_method(
            {"getSignatureStatuses": lambda: statuses(None), "getBlockHeight": lambda: result(100)}
        )
    )
    with pytest.raises(ConfirmationTimeout) as caught:
        await rpc.confirm(SIG, 250)
    assert caught.value.transient and caught.value.signature == SIG
    assert sum(sleep.waits) == 5.0


@respx.mock
async def test_confirm_finds_a_late_landing_at_expiry(rpc: SolanaRpc) -> None:
    replies = iter(
        [
            statuses(None),
            statuses(
                {"slot": 9, "confirmations": 0, "err": None, "confirmationStatus": "confirmed"}
            ),
        ]
    )
    respx.post(URL).mock(
        side_effect=by_method(
            {"getSignatureStatuses": lambda: next(replies), "getBlockHeight": lambda: result(300)}
        )
    )
    assert (await rpc.confirm(SIG, 250)).state == "confirmed"
