"""Helius DAS: every token account of a mint (the holder snapshot) and the mint's decimals.

`getTokenAccounts` takes named (object) params and pages from 1; we stop on the first EMPTY
page, because Helius' `total` is only the size of the returned page and a short page is not a
promise that no more follow. Owners are returned exactly as sent (base58 is case-sensitive);
one owner may hold several accounts, and program-owned (off-curve) owners are included: the
snapshot phase groups and filters them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx

from arenabrain.clients.bags import lamports
from arenabrain.clients.errors import UpstreamError
from arenabrain.clients.solana import JsonRpc

UPSTREAM = "helius"
PAGE_LIMIT = 1000
# 10 million accounts: far beyond any Bags token; stops a server that never sends an empty page.
MAX_PAGES = 10_000


@dataclass(frozen=True)
class TokenAccount:
    address: str
    owner: str
    amount: int  # raw base units


class HeliusDas:
    """Helius DAS and token-supply reads over the Helius RPC URL, implementing `HoldersPort`."""

    def __init__(self, http: httpx.AsyncClient, *, max_pages: int = MAX_PAGES) -> None:
        self._rpc = JsonRpc(http, UPSTREAM)
        self._max_pages = max_pages

    async def token_accounts(self, mint: str) -> list[TokenAccount]:
        """Every non-zero token account of `mint`, all pages, in the order Helius returns them."""
        accounts: list[TokenAccount] = []
        for page in range(1, self._max_pages + 1):
            result = await self._rpc.call(
                "getTokenAccounts",
                {
                    "mint": mint,
                    "page": page,
                    "limit": PAGE_LIMIT,
                    "options": {"showZeroBalance": False},
                },
            )
            rows = result.get("token_accounts") if isinstance(result, dict) else None
            if not isinstance(rows, list):
                raise UpstreamError(UPSTREAM, f"getTokenAccounts page {page} is malformed")
            if not rows:
                return accounts
            accounts.extend(_account(row) for row in rows)
        reason = f"getTokenAccounts did not end within {self._max_pages} pages"
        raise UpstreamError(UPSTREAM, reason)

    async def mint_decimals(self, mint: str) -> int:
        result = await self._rpc.call("getTokenSupply", [mint])
        try:
            decimals = result["value"]["decimals"]
        except (KeyError, TypeError):
            raise UpstreamError(UPSTREAM, "malformed getTokenSupply result") from None
        if isinstance(decimals, bool) or not isinstance(decimals, int) or decimals < 0:
            raise UpstreamError(UPSTREAM, "malformed mint decimals")
        return decimals


def _account(row: Any) -> TokenAccount:
    try:
        address, owner = row["address"], row["owner"]
        if not isinstance(address, str) or not isinstance(owner, str):
            raise ValueError("address and owner must be strings")
        return TokenAccount(address=address, owner=owner, amount=lamports(row["amount"]))
    except (KeyError, TypeError, ValueError) as exc:
        raise UpstreamError(UPSTREAM, f"malformed token account ({exc})") from None
