"""Helius DAS against respx: named params, paging until an empty page, per-owner rows intact."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import httpx
import pytest
import respx

from arenabrain.clients.errors import UpstreamError
from arenabrain.clients.helius import HeliusDas, TokenAccount

URL = "https://mainnet.helius-rpc.com/"
MINT = "7GCihgDB8fe6KNjn2MYtkzZcRjQy3t9GHdC8uHYmW2hr"


@pytest.fixture
async def das() -> AsyncIterator[HeliusDas]:
    async with httpx.AsyncClient(base_url=URL, params={"api-key": "hk"}) as http:
        yield HeliusDas(http)


def page(rows: list[dict[str, object]], number: int) -> httpx.Response:
    result = {"total": len(rows), "limit": 1000, "page": number, "token_accounts": rows}
    return httpx.Response(200, json={"jsonrpc": "2.0", "id": "1", "result": result})


def row(address: str, owner: str, amount: object) -> dict[str, object]:
    return {
        "address": address,
        "mint": MINT,
        "owner": owner,
        "amount": amount,
        "delegated_amount": 0,
        "frozen": False,
    }


@respx.mock
async def test_pages_until_an_empty_page_even_after_a_short_one(das: HeliusDas) -> None:
    pages = {
        1: [row("A1", "OwnerA", 5), row("A2", "ownera", 7)],
        2: [row("B1", "OwnerA", "11")],  # short page: more may still follow
        3: [],
    }
    requests: list[dict[str, object]] = []

    def answer(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        requests.append(body)
        assert request.url.params["api-key"] == "hk"
        return page(pages[body["params"]["page"]], body["params"]["page"])

    respx.post(URL).mock(side_effect=answer)
    accounts = await das.token_accounts(MINT)
    assert [r["params"] for r in requests] == [
        {"mint": MINT, "page": n, "limit": 1000, "options": {"showZeroBalance": False}}
        for n in (1, 2, 3)
    ]
    assert all(r["method"] == "getTokenAccounts" for r in requests)
    # Same owner twice stays two rows, and owners differing only by case stay distinct.
    assert accounts == [
        TokenAccount("A1", "OwnerA", 5),
        TokenAccount("A2", "ownera", 7),
        TokenAccount("B1", "OwnerA", 11),
    ]


@respx.mock
async def test_malformed_row_is_an_error(das: HeliusDas) -> None:
    respx.post(URL).mock(return_value=page([{"address": "A1", "amount": 1}], 1))
    with pytest.raises(UpstreamError, match="malformed token account"):
        await das.token_accounts(MINT)


@respx.mock
async def test_rpc_error_and_http_429(das: HeliusDas) -> None:
    respx.post(URL).mock(
        side_effect=[
            httpx.Response(
                200,
                json={"jsonrpc": "2.0", "id": 1, "error": {"code": -32602, "message": "bad mint"}},
            ),
            httpx.Response(
                429, json={"jsonrpc": "2.0", "error": {"code": -32429, "message": "slow down"}}
            ),
        ]
    )
    with pytest.raises(UpstreamError, match="bad mint") as first:
        await das.token_accounts(MINT)
    assert first.value.upstream == "helius" and not first.value.transient
    with pytest.raises(UpstreamError, match="429") as second:
        await das.token_accounts(MINT)
    assert second.value.transient


async def test_never_ending_pages_are_an_error() -> None:
    async with httpx.AsyncClient(base_url=URL) as http:
        das = HeliusDas(http, max_pages=3)
        with respx.mock:
            respx.post(URL).mock(return_value=page([row("A", "O", 1)], 1))
            with pytest.raises(UpstreamError, match="did not end within 3 pages"):
                await das.token_accounts(MINT)


@respx.mock
async def test_mint_decimals_from_token_supply(das: HeliusDas) -> None:
    route = respx.post(URL).mock(
        return_value=httpx.Response(
            200,
            json={
                "jsonrpc": "2.0",
                "id": 1,
                "result": {
                    "context": {"slot": 1},
                    "value": {"amount": "1000", "decimals": 9, "uiAmountString": "0.000001"},
                },
            },
        )
    )
    assert await das.mint_decimals(MINT) == 9
    body = json.loads(route.calls.last.request.content)
    assert (body["method"], body["params"]) == ("getTokenSupply", [MINT])
