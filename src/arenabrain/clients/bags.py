"""Bags.fm public API v2: claimable fee positions, claim transactions, SOL->USDC quotes and swaps.

Speaks Bags' dialect: the `x-api-key` header, the `{success, response}` envelope (errors come as
`{success:false, error}`, also with 4xx/5xx statuses), amounts that are sometimes strings, and
base58 transactions. Every call goes through one shared `BagsRateLimiter` (1,000 requests per
rolling hour, honouring the `X-RateLimit-*` and `Retry-After` headers). A 429 is retried here,
after the limiter's wait, because Bags did not process the request; other failures raise
`UpstreamError("bags", ...)` (transient for 5xx and timeouts) for the phase's retry policy."""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any, Literal

import httpx

from arenabrain.clients.errors import UpstreamError, error_message, json_body, send, status_error
from arenabrain.clock import Clock

UPSTREAM = "bags"
FEE_SHARE_V1_PROGRAM = "FEEhPbKVKnco9EXnaY3i4R5rQVUx91wgVfu8qokixywi"
FEE_SHARE_V2_PROGRAM = "FEE2tBhCKAt7shrod19QttSVREUYPiyMzoku1mL1gqVK"
REQUESTS_PER_WINDOW = 1000
WINDOW_SECONDS = 3600.0
# Low-priority callers (anything but the pipeline) leave this many requests to the pipeline.
LOW_PRIORITY_RESERVE = 100
# Unix timestamps are ~1.7e9; anything smaller in X-RateLimit-Reset is read as "seconds from now".
RELATIVE_RESET_BELOW = 1_000_000_000
MAX_ATTEMPTS = 3

Sleep = Callable[[float], Awaitable[None]]
Priority = Literal["high", "low"]


@dataclass(frozen=True)
class ClaimablePosition:
    """One claimable fee position of the owner wallet (any of the three kinds)."""

    base_mint: str
    kind: Literal["standard", "fee_share_v1", "fee_share_v2"]
    claimable_lamports: int  # the user's share, already summed per position
    virtual_pool: str | None = None
    raw: dict[str, Any] = field(default_factory=dict, compare=False)


@dataclass(frozen=True)
class ClaimTransaction:
    """A base58 legacy transaction from `claim-txs/v3`, possibly pre-signed by Bags."""

    tx_base58: str
    blockhash: str
    last_valid_block_height: int


@dataclass(frozen=True)
class SwapQuote:
    request_id: str
    in_amount: int  # lamports
    out_amount: int  # USDC base units (quoted; the swap phase records what its transaction moved)
    min_out_amount: int
    price_impact_pct: Decimal
    slippage_bps: int
    raw: dict[str, Any] = field(default_factory=dict, compare=False)


@dataclass(frozen=True)
class SwapTransaction:
    """A base58 versioned (v0) transaction from `POST /trade/swap`; we are the only signer."""

    tx_base58: str
    last_valid_block_height: int


class BagsRateLimiter:
    """Client-side limit for one Bags API key: a rolling window plus what the server says.

    `acquire()` waits (with the injected `sleep`) when our own window is full, when the server
    reported `X-RateLimit-Remaining: 0` before its reset time, or during a 429 back-off; then it
    counts the request. Share one instance per API key across the process."""

    def __init__(
        self,
        clock: Clock,
        sleep: Sleep = asyncio.sleep,
        *,
        limit: int = REQUESTS_PER_WINDOW,
        window_seconds: float = WINDOW_SECONDS,
    ) -> None:
        self._clock = clock
        self._sleep = sleep
        self.limit = limit
        self.window_seconds = window_seconds
        self._sent: deque[float] = deque()
        self.remaining: int | None = None  # as last reported by the server
        self.reset_at: float | None = None  # unix seconds, as last reported by the server
        self.backoff_until = 0.0  # unix seconds
        self._lock = asyncio.Lock()

    async def acquire(self, priority: Priority = "high") -> None:
        """Wait until a request may be sent, then count it."""
        async with self._lock:
            now = self._now()
            wait = self._wait(now, LOW_PRIORITY_RESERVE if priority == "low" else 0)
            if wait > 0:
                await self._sleep(wait)
                # The wait was served: a frozen test clock must not make us wait for it again.
                now = max(self._now(), now + wait)
                self.backoff_until = 0.0
                if self.reset_at is not None and self.reset_at <= now:
                    self.remaining = None
            self._expire(now)
            self._sent.append(now)
            if self.remaining is not None and self.remaining > 0:
                self.remaining -= 1

    def update(self, headers: Mapping[str, str], status: int) -> None:
        """Learn from a response's rate-limit headers (and its status, for 429 back-off)."""
        now = self._now()
        headers = httpx.Headers(headers)  # case-insensitive, whatever mapping we were given
        remaining = _header_number(headers, "x-ratelimit-remaining")
        if remaining is not None:
            self.remaining = max(int(remaining), 0)
        reset = _header_number(headers, "x-ratelimit-reset")
        if reset is not None:
            self.reset_at = reset if reset >= RELATIVE_RESET_BELOW else now + reset
        retry_after = _header_number(headers, "retry-after")
        if status == 429:
            if retry_after is not None and retry_after > 0:
                self.backoff_until = max(self.backoff_until, now + retry_after)
            elif self.reset_at is not None and self.reset_at > now:
                self.backoff_until = max(self.backoff_until, self.reset_at)
            else:
                self.backoff_until = max(self.backoff_until, now + 1.0)

    def _wait(self, now: float, reserve: int) -> float:
        waits = [self.backoff_until - now]
        self._expire(now)
        cap = max(self.limit - reserve, 1)
        if len(self._sent) >= cap:
            # Enough of the oldest requests must leave the window to get below the cap.
            index = len(self._sent) - cap
            waits.append(self._sent[index] + self.window_seconds - now)
        server_reset = self.reset_at if self.reset_at is not None else now
        if self.remaining is not None and self.remaining <= reserve and server_reset > now:
            waits.append(server_reset - now)
        return max(max(waits), 0.0)

    def _expire(self, now: float) -> None:
        while self._sent and self._sent[0] <= now - self.window_seconds:
            self._sent.popleft()

    def _now(self) -> float:
        return self._clock.now().timestamp()


class BagsClient:
    """Bags.fm public API v2 (`https://public-api-v2.bags.fm/api/v1`), implementing `BagsPort`."""

    def __init__(
        self,
        http: httpx.AsyncClient,
        api_key: str,
        limiter: BagsRateLimiter,
        *,
        priority: Priority = "high",
        max_attempts: int = MAX_ATTEMPTS,
    ) -> None:
        self._http = http
        self._api_key = api_key
        self._limiter = limiter
        self._priority = priority
        self._max_attempts = max_attempts

    def __repr__(self) -> str:  # never show the API key
        return f"BagsClient(base_url={str(self._http.base_url)!r})"

    async def claimable_positions(self, wallet: str) -> list[ClaimablePosition]:
        """Every claimable fee position of `wallet`, of the three kinds, in lamports."""
        payload = await self._request(
            "GET", "token-launch/claimable-positions", params={"wallet": wallet}
        )
        if not isinstance(payload, list):
            raise UpstreamError(UPSTREAM, "claimable-positions response is not a list")
        return [parse_position(item) for item in payload]

    async def claim_transactions(self, fee_claimer: str, token_mint: str) -> list[ClaimTransaction]:
        """The (possibly Bags-presigned) base58 legacy transactions that claim one token's fees:
        those of every claimable position of that mint (a pool position and a custom fee vault
        of one token come in one answer), so callers ask once per mint."""
        payload = await self._request(
            "POST",
            "token-launch/claim-txs/v3",
            json={"feeClaimer": fee_claimer, "tokenMint": token_mint},
        )
        if not isinstance(payload, list):
            raise UpstreamError(UPSTREAM, "claim-txs response is not a list")
        return [_claim_transaction(item) for item in payload]

    async def trade_quote(
        self, input_mint: str, output_mint: str, amount: int, slippage_bps: int
    ) -> SwapQuote:
        """A v1 quote with manual slippage; the raw quote is kept to send back to `trade/swap`."""
        payload = await self._request(
            "GET",
            "trade/quote",
            params={
                "inputMint": input_mint,
                "outputMint": output_mint,
                "amount": str(amount),
                "slippageMode": "manual",
                "slippageBps": str(slippage_bps),
            },
        )
        if not isinstance(payload, dict):
            raise UpstreamError(UPSTREAM, "quote response is not an object")
        try:
            return SwapQuote(
                request_id=str(payload["requestId"]),
                in_amount=lamports(payload["inAmount"]),
                out_amount=lamports(payload["outAmount"]),
                min_out_amount=lamports(payload["minOutAmount"]),
                price_impact_pct=Decimal(str(payload.get("priceImpactPct", "0"))),
                slippage_bps=int(str(payload.get("slippageBps", slippage_bps))),
                raw=payload,
            )
        except (KeyError, ValueError, InvalidOperation) as exc:
            raise UpstreamError(UPSTREAM, f"malformed quote ({_reason(exc)})") from None

    async def swap_transaction(self, quote: SwapQuote, user_public_key: str) -> SwapTransaction:
        """The base58 v0 swap transaction for `quote`, to be signed by `user_public_key` alone."""
        body = {"quoteResponse": quote.raw, "userPublicKey": user_public_key}
        payload = await self._request("POST", "trade/swap", json=body)
        if not isinstance(payload, dict):
            raise UpstreamError(UPSTREAM, "swap response is not an object")
        tx = payload.get("swapTransaction")
        height = payload.get("lastValidBlockHeight")
        if not isinstance(tx, str) or not tx or height is None:
            reason = "swap response lacks swapTransaction or lastValidBlockHeight"
            raise UpstreamError(UPSTREAM, reason)
        try:
            return SwapTransaction(tx_base58=tx, last_valid_block_height=lamports(height))
        except ValueError:
            raise UpstreamError(UPSTREAM, "malformed lastValidBlockHeight") from None

    async def _request(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, str] | None = None,
        json: dict[str, Any] | None = None,
    ) -> Any:
        if not self._api_key:
            raise UpstreamError(UPSTREAM, "BAGS_API_KEY not configured")
        for attempt in range(1, self._max_attempts + 1):
            await self._limiter.acquire(self._priority)
            headers = {"x-api-key": self._api_key}
            response = await send(
                self._http, UPSTREAM, method, path, params=params, json=json, headers=headers
            )
            self._limiter.update(response.headers, response.status_code)
            if response.status_code == 429 and attempt < self._max_attempts:
                continue  # not processed: the limiter waits out the back-off on the next acquire
            return _unwrap(response, path)
        raise AssertionError("unreachable")  # pragma: no cover


def _unwrap(response: httpx.Response, path: str) -> Any:
    status = response.status_code
    body = json_body(response)
    if status >= 400:
        raise status_error(UPSTREAM, path, response, body)
    if not isinstance(body, dict) or "success" not in body:
        reason = f"{path} answered without the success envelope"
        raise UpstreamError(UPSTREAM, reason, status=status)
    if body["success"] is not True:
        message = error_message(body) or "success:false"
        raise UpstreamError(UPSTREAM, f"{path} failed: {message}", status=status)
    if "response" not in body:
        raise UpstreamError(UPSTREAM, f"{path} envelope has no response", status=status)
    return body["response"]


def parse_position(item: Any) -> ClaimablePosition:
    """One claimable-positions item as our type; standard, fee-share V1 or V2 by `programId`."""
    if not isinstance(item, dict) or not isinstance(item.get("baseMint"), str):
        raise UpstreamError(UPSTREAM, "claimable position without baseMint")
    try:
        if not item.get("isCustomFeeVault"):
            kind: Literal["standard", "fee_share_v1", "fee_share_v2"] = "standard"
            if "virtualPoolClaimableAmount" in item or "dammPoolClaimableAmount" in item:
                amount = lamports(item.get("virtualPoolClaimableAmount", 0)) + lamports(
                    item.get("dammPoolClaimableAmount", 0)
                )
            else:
                amount = lamports(item.get("totalClaimableLamportsUserShare", 0))
        else:
            program = item.get("programId")
            if program == FEE_SHARE_V1_PROGRAM:
                kind = "fee_share_v1"
            elif program == FEE_SHARE_V2_PROGRAM:
                kind = "fee_share_v2"
            else:
                raise UpstreamError(UPSTREAM, f"unknown fee-share program {program!r}")
            if "totalClaimableLamportsUserShare" in item:
                amount = lamports(item["totalClaimableLamportsUserShare"])
            else:
                amount = lamports(item.get("virtualPoolClaimableLamportsUserShare", 0)) + lamports(
                    item.get("dammPoolClaimableLamportsUserShare", 0)
                )
    except ValueError as exc:
        raise UpstreamError(UPSTREAM, f"malformed claimable amount ({exc})") from None
    pool = item.get("virtualPoolAddress") or item.get("virtualPool")
    return ClaimablePosition(
        base_mint=item["baseMint"],
        kind=kind,
        claimable_lamports=amount,
        virtual_pool=pool if isinstance(pool, str) else None,
        raw=item,
    )


def _claim_transaction(item: Any) -> ClaimTransaction:
    try:
        blockhash = item["blockhash"]
        tx = item["tx"]
        if not isinstance(tx, str) or not tx:
            raise ValueError("tx is not a string")
        return ClaimTransaction(
            tx_base58=tx,
            blockhash=str(blockhash["blockhash"]),
            last_valid_block_height=lamports(blockhash["lastValidBlockHeight"]),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise UpstreamError(UPSTREAM, f"malformed claim transaction ({_reason(exc)})") from None


def lamports(value: Any) -> int:
    """A non-negative integer amount given as a number or a numeric string (`int(str(x))`)."""
    if isinstance(value, bool) or value is None:
        raise ValueError(f"not an amount: {value!r}")
    text = str(value).strip()
    try:
        amount = int(text)
    except ValueError:
        # 4200000000.0 or "4.2e9" from a JSON float: accept only whole numbers.
        try:
            exact = Decimal(text)
        except InvalidOperation:
            raise ValueError(f"not an amount: {value!r}") from None
        if not exact.is_finite() or exact != exact.to_integral_value():
            raise ValueError(f"not a whole amount: {value!r}") from None
        amount = int(exact)
    if amount < 0:
        raise ValueError(f"negative amount: {value!r}")
    return amount


def _reason(exc: Exception) -> str:
    return f"missing {exc}" if isinstance(exc, KeyError) else str(exc)


def _header_number(headers: Mapping[str, str], name: str) -> float | None:
    # Bags sends seconds; an HTTP-date Retry-After is not worth a parser: the 429 fallback applies.
    value = headers.get(name)
    if value is None:
        return None
    try:
        number = float(value)
    except ValueError:
        return None
    return number if number == number else None
