"""Solana JSON-RPC over httpx (the Helius URL): blockhashes, sending, statuses and balances.

A thin client by design: solana-py >= 0.37 moved to httpx2, which respx and our transports
cannot see, so we speak JSON-RPC ourselves and use solders only for keys and transactions.

`confirm()` tells three outcomes apart, because the claim and swap phases must:
- state "confirmed"/"finalized": the transaction landed and succeeded;
- state "failed": it landed with an `err` (fees were charged; nothing else moved);
- state "unknown" with an error starting with `EXPIRED`: the block height passed
  `last_valid_block_height` and the signature was never seen, so it can never land and it is
  safe to fetch a fresh transaction (`is_expired(status)`).
If polling runs out of time while the blockhash is still valid, it raises `ConfirmationTimeout`:
the outcome is undetermined and the caller must check the signature again, not re-send.

`send_transaction` raises on a timeout or a 5xx (transient: the transaction may have landed)
and on a preflight refusal (`RpcError` -32002). A refusal with `already_processed` ("This
transaction has already been processed") means an earlier send of it landed. Whatever the
answer, the recorded signature's status on chain decides; `lamports_received` and
`token_received` then measure what the landed transaction itself moved (`getTransaction` meta:
pre/post lamport balances, pre/post token balances), whatever else moved the same wallet."""

from __future__ import annotations

import asyncio
import base64
import itertools
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Literal

import httpx

from arenabrain.clients.errors import UpstreamError, json_body, send, status_error

UPSTREAM = "solana"
COMMITMENT = "confirmed"
SEND_OPTIONS = {
    "encoding": "base64",
    "skipPreflight": False,
    "preflightCommitment": COMMITMENT,
    "maxRetries": 3,
}
MAX_STATUSES_PER_CALL = 256
EXPIRED = "expired"
GET_TRANSACTION_OPTIONS = {
    "encoding": "json",
    "commitment": COMMITMENT,
    "maxSupportedTransactionVersion": 0,
}
__all__ = ["TRANSIENT_RPC_CODES", "ConfirmationTimeout", "RpcError", "SolanaRpc", "is_expired"]

Sleep = Callable[[float], Awaitable[None]]

# Chain facts every Solana-speaking module shares (the clients, the phases, the emulators).
WSOL_MINT = "So11111111111111111111111111111111111111112"
USDC_MINT = "EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v"
BURN_ADDRESS = "1nc1nerator11111111111111111111111111111111"
LAMPORTS_PER_SOL = 1_000_000_000
USDC_DECIMALS = 6

SignatureState = Literal["unknown", "processed", "confirmed", "finalized", "failed"]
# Node is behind / block not available / slot skipped: retrying later can succeed.
TRANSIENT_RPC_CODES = frozenset({-32004, -32005, -32007, -32014, -32016})
PREFLIGHT_FAILURE = -32002  # "Transaction simulation failed: ..."


class RpcError(UpstreamError):
    """A JSON-RPC error object (`code`, `message`, optional `data`) from the Solana node.

    For `sendTransaction` with preflight, code -32002 is a refusal of this send: a clear
    rejection, except `already_processed` (the transaction landed earlier: it WAS sent)."""

    def __init__(self, upstream: str, code: int, message: str, data: Any = None) -> None:
        transient = code in TRANSIENT_RPC_CODES
        super().__init__(upstream, f"RPC error {code}: {message}", transient=transient)
        self.code = code
        self.rpc_message = message
        self.data = data

    def _text(self) -> str:
        return f"{self.rpc_message} {self.data}".lower()

    @property
    def blockhash_not_found(self) -> bool:
        """Preflight found the blockhash unknown or expired: fetch a fresh transaction."""
        text = self._text()
        return "blockhashnotfound" in text.replace(" ", "") or "blockhash not found" in text

    @property
    def already_processed(self) -> bool:
        """Preflight found this very transaction already landed: the send is not a failure."""
        text = self._text()
        return self.code == PREFLIGHT_FAILURE and (
            "alreadyprocessed" in text.replace(" ", "") or "already been processed" in text
        )


@dataclass(frozen=True)
class SignatureStatus:
    signature: str
    state: SignatureState
    error: str | None = None  # the RPC's `err` rendered as text when the transaction failed


class ConfirmationTimeout(UpstreamError):
    """Polling gave up while the blockhash was still valid: the outcome is not known yet."""

    def __init__(self, signature: str) -> None:
        super().__init__(UPSTREAM, f"no confirmation yet for {signature}", transient=True)
        self.signature = signature


def is_expired(status: SignatureStatus) -> bool:
    """True when `confirm()` saw the blockhash expire without the transaction landing."""
    return status.state == "unknown" and (status.error or "").startswith(EXPIRED)


class JsonRpc:
    """POST JSON-RPC 2.0 calls to the client's base URL and return `result` or raise."""

    def __init__(self, http: httpx.AsyncClient, upstream: str) -> None:
        self._http = http
        self._upstream = upstream
        self._ids = itertools.count(1)

    async def call(self, method: str, params: Any) -> Any:
        body = {"jsonrpc": "2.0", "id": next(self._ids), "method": method, "params": params}
        response = await send(self._http, self._upstream, "POST", "", label=method, json=body)
        status = response.status_code
        payload = json_body(response)
        if status >= 400:
            raise status_error(self._upstream, method, response, payload)
        if not isinstance(payload, dict):
            raise UpstreamError(self._upstream, f"{method} answered non-JSON-RPC", status=status)
        error = payload.get("error")
        if error is not None:
            if not isinstance(error, dict):
                raise UpstreamError(self._upstream, f"{method} failed: {error}", status=status)
            code = error.get("code")
            raise RpcError(
                self._upstream,
                code if isinstance(code, int) else 0,
                str(error.get("message", "")),
                error.get("data"),
            )
        if "result" not in payload:
            raise UpstreamError(self._upstream, f"{method} answered without result", status=status)
        return payload["result"]


class SolanaRpc:
    """Solana JSON-RPC client implementing `SolanaPort` (commitment "confirmed")."""

    def __init__(
        self,
        http: httpx.AsyncClient,
        *,
        sleep: Sleep = asyncio.sleep,
        poll_interval: float = 0.5,
        max_wait: float = 120.0,
    ) -> None:
        self._rpc = JsonRpc(http, UPSTREAM)
        self._sleep = sleep
        self.poll_interval = poll_interval
        self.max_wait = max_wait

    async def call(self, method: str, params: Any) -> Any:
        return await self._rpc.call(method, params)

    async def latest_blockhash(self) -> tuple[str, int]:
        result = await self.call("getLatestBlockhash", [{"commitment": COMMITMENT}])
        try:
            value = result["value"]
            return str(value["blockhash"]), int(value["lastValidBlockHeight"])
        except (KeyError, TypeError, ValueError):
            raise UpstreamError(UPSTREAM, "malformed getLatestBlockhash result") from None

    async def block_height(self) -> int:
        return _int(await self.call("getBlockHeight", [{"commitment": COMMITMENT}]), "height")

    async def send_transaction(self, wire: bytes) -> str:
        """Send signed wire bytes (with preflight); returns the transaction's signature."""
        encoded = base64.b64encode(wire).decode()
        result = await self.call("sendTransaction", [encoded, SEND_OPTIONS])
        if not isinstance(result, str):
            raise UpstreamError(UPSTREAM, "sendTransaction returned no signature")
        return result

    async def signature_statuses(
        self, signatures: list[str], *, search_history: bool = True
    ) -> list[SignatureStatus]:
        """Statuses in order; `search_history` finds transactions older than the status cache."""
        statuses: list[SignatureStatus] = []
        for start in range(0, len(signatures), MAX_STATUSES_PER_CALL):
            chunk = signatures[start : start + MAX_STATUSES_PER_CALL]
            result = await self.call(
                "getSignatureStatuses", [chunk, {"searchTransactionHistory": search_history}]
            )
            values = result.get("value") if isinstance(result, dict) else None
            if not isinstance(values, list) or len(values) != len(chunk):
                raise UpstreamError(UPSTREAM, "malformed getSignatureStatuses result")
            statuses.extend(_status(sig, value) for sig, value in zip(chunk, values, strict=True))
        return statuses

    async def confirm(self, signature: str, last_valid_block_height: int) -> SignatureStatus:
        """Poll until landed (confirmed/finalized or failed) or expired; see the module doc."""
        waited = 0.0
        while True:
            (status,) = await self.signature_statuses([signature], search_history=False)
            if status.state == "unknown":
                height = await self.block_height()
                if height > last_valid_block_height:
                    # It may have landed in the last valid block: look once more before giving up.
                    (status,) = await self.signature_statuses([signature], search_history=True)
                    if status.state == "unknown":
                        return SignatureStatus(
                            signature,
                            "unknown",
                            f"{EXPIRED}: block height {height} passed last valid block height "
                            f"{last_valid_block_height}",
                        )
            if status.state in ("confirmed", "finalized", "failed"):
                return status
            if waited >= self.max_wait:
                raise ConfirmationTimeout(signature)
            await self._sleep(self.poll_interval)
            waited += self.poll_interval

    async def lamports_received(self, signature: str, account: str) -> int:
        """What the landed transaction moved to `account`: post minus pre balance in its meta,
        plus the fee when `account` paid it (the fee payer is the first account key)."""
        result = await self._landed(signature)
        try:
            meta = result["meta"]
            keys = _account_keys(result)
            pre, post = meta["preBalances"], meta["postBalances"]
            if not (len(keys) == len(pre) == len(post)):
                raise ValueError("balances do not match the account keys")
            if account not in keys:
                return 0
            index = keys.index(account)
            fee = _int(meta["fee"], "fee") if index == 0 else 0
            return _int(post[index], "balance") - _int(pre[index], "balance") + fee
        except (KeyError, TypeError, ValueError, AttributeError):
            raise UpstreamError(UPSTREAM, "malformed getTransaction result") from None

    async def token_received(self, signature: str, owner: str, mint: str) -> int:
        """What the landed transaction moved to `owner`'s token accounts of `mint`: post minus
        pre `uiTokenAmount.amount` (an integer string) over its meta's token balances. An
        account the transaction created is absent from `preTokenBalances` (it held 0), one it
        closed from `postTokenBalances`."""
        result = await self._landed(signature)
        try:
            meta = result["meta"]
            count = len(_account_keys(result))
            pre = _token_amounts(meta["preTokenBalances"], owner, mint, count)
            post = _token_amounts(meta["postTokenBalances"], owner, mint, count)
        except (KeyError, TypeError, ValueError, AttributeError):
            raise UpstreamError(UPSTREAM, "malformed getTransaction token balances") from None
        return sum(post.values()) - sum(pre.values())

    async def _landed(self, signature: str) -> Any:
        result = await self.call("getTransaction", [signature, GET_TRANSACTION_OPTIONS])
        if result is None:  # not landed, or not visible at "confirmed" on this node yet
            raise UpstreamError(
                UPSTREAM, f"getTransaction found no landed transaction {signature}", transient=True
            )
        return result

    async def balance_lamports(self, owner: str) -> int:
        result = await self.call("getBalance", [owner, {"commitment": COMMITMENT}])
        value = result.get("value") if isinstance(result, dict) else None
        return _int(value, "balance")

    async def token_balance(self, owner: str, mint: str) -> int:
        """The owner's total balance of `mint` over all its token accounts, in base units."""
        result = await self.call(
            "getTokenAccountsByOwner",
            [owner, {"mint": mint}, {"encoding": "jsonParsed", "commitment": COMMITMENT}],
        )
        accounts = result.get("value") if isinstance(result, dict) else None
        if not isinstance(accounts, list):
            raise UpstreamError(UPSTREAM, "malformed getTokenAccountsByOwner result")
        total = 0
        for account in accounts:
            parsed = _parsed_amount(account)
            if parsed is None:  # not jsonParsed (e.g. an unknown program): ask for the balance
                total += await self._account_balance(str(account.get("pubkey")))
            else:
                total += parsed
        return total

    async def _account_balance(self, address: str) -> int:
        result = await self.call("getTokenAccountBalance", [address, {"commitment": COMMITMENT}])
        try:
            return _int(result["value"]["amount"], "token amount")
        except (KeyError, TypeError):
            raise UpstreamError(UPSTREAM, "malformed getTokenAccountBalance result") from None


def _status(signature: str, value: Any) -> SignatureStatus:
    if value is None:
        return SignatureStatus(signature, "unknown")
    if not isinstance(value, dict):
        raise UpstreamError(UPSTREAM, "malformed signature status")
    err = value.get("err")
    if err is not None:
        text = err if isinstance(err, str) else json.dumps(err, separators=(",", ":"))
        return SignatureStatus(signature, "failed", text)
    state: SignatureState
    reported = value.get("confirmationStatus")
    if reported in ("processed", "confirmed", "finalized"):
        state = reported
    else:
        # Old nodes omit confirmationStatus: `confirmations: null` means rooted (finalized).
        state = "finalized" if value.get("confirmations", 0) is None else "processed"
    return SignatureStatus(signature, state)


def _account_keys(result: Any) -> list[str]:
    """The transaction's account keys as its meta indexes them: static keys, then the
    writable and the read-only addresses loaded from lookup tables."""
    message = result["transaction"]["message"]
    loaded = result["meta"].get("loadedAddresses") or {}
    return [*message["accountKeys"], *loaded.get("writable", []), *loaded.get("readonly", [])]


def _token_amounts(balances: Any, owner: str, mint: str, accounts: int) -> dict[int, int]:
    """{account index: amount} of the token balances that are `owner`'s accounts of `mint`.
    Every entry is checked, so a malformed answer is refused rather than half read."""
    if not isinstance(balances, list):  # absent (null) when the node did not record them
        raise TypeError("no token balances")
    amounts: dict[int, int] = {}
    seen: set[int] = set()
    for entry in balances:
        index = entry["accountIndex"]
        amount = entry["uiTokenAmount"]["amount"]
        if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < accounts:
            raise ValueError("token balance of an unknown account")
        if index in seen:
            raise ValueError("two token balances of one account")
        seen.add(index)
        if not (isinstance(amount, str) and amount.isascii() and amount.isdigit()):
            raise ValueError("token amount is not a base-unit integer string")
        if entry["mint"] == mint and entry["owner"] == owner:
            amounts[index] = int(amount)
    return amounts


def _parsed_amount(account: Any) -> int | None:
    try:
        amount = account["account"]["data"]["parsed"]["info"]["tokenAmount"]["amount"]
    except (KeyError, TypeError):
        return None
    return _int(amount, "token amount")


def _int(value: Any, what: str) -> int:
    if isinstance(value, bool):
        raise UpstreamError(UPSTREAM, f"malformed {what}")
    try:
        return int(str(value))
    except ValueError:
        raise UpstreamError(UPSTREAM, f"malformed {what}") from None
