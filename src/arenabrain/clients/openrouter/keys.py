"""OpenRouter key management with the management key: holder keys, their limits, and credits.

Responses are unwrapped from `{"data": ...}` (the anchor forgot to, bug B8); USD numbers become
Decimal; `limit_reset` is the enum `daily|weekly|monthly` or None (never a date, bug B10);
`expires_at` is sent as UTC. The plaintext key exists only in `create_key`'s result: it is never
logged, and neither it nor the management key ever appears in an exception or a repr.

Rate limits: a 429 was refused, not processed, so it is sent again once OpenRouter's
`Retry-After` has passed; meanwhile every other request of the client waits too (a run's
concurrent holders share one client)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Collection
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import quote

import httpx

from arenabrain.clients.errors import UpstreamError
from arenabrain.clients.openrouter.transport import UPSTREAM, exchange

Sleep = Callable[[float], Awaitable[None]]
PAGE_SIZE = 100
# A 429 is sent again after OpenRouter's Retry-After (or RATE_LIMIT_WAIT without one), at most
# this many times in all; then it is the caller's transient error.
RATE_LIMITED_ATTEMPTS = 4
RATE_LIMIT_WAIT = 1.0
RATE_LIMIT_WAIT_MAX = 60.0
MAX_PAGES = 10_000
LIMIT_RESETS = frozenset({"daily", "weekly", "monthly"})
UPDATABLE = frozenset({"name", "disabled", "limit", "limit_reset", "include_byok_in_limit"})


@dataclass(frozen=True)
class OpenRouterKey:
    hash: str
    name: str
    disabled: bool
    limit: Decimal | None
    limit_remaining: Decimal | None
    limit_reset: str | None
    usage: Decimal
    usage_daily: Decimal
    usage_weekly: Decimal
    usage_monthly: Decimal
    created_at: datetime | None
    updated_at: datetime | None
    expires_at: datetime | None
    raw: dict[str, Any] = field(default_factory=dict, compare=False)


@dataclass(frozen=True)
class CreatedKey:
    key: OpenRouterKey
    # Shown by OpenRouter only in the create response; never in a repr, a log line or an error.
    plaintext: str = field(repr=False)


@dataclass(frozen=True)
class Credits:
    total_credits: Decimal
    total_usage: Decimal

    @property
    def balance(self) -> Decimal:
        return self.total_credits - self.total_usage


class OpenRouterKeys:
    """OpenRouter's `/keys` and `/credits` endpoints, implementing `KeysPort`."""

    def __init__(
        self,
        http: httpx.AsyncClient,
        management_key: str,
        *,
        sleep: Sleep = asyncio.sleep,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._http = http
        self._management_key = management_key
        self._sleep = sleep
        self._monotonic = monotonic
        # After a 429, every request of this client (every concurrent holder of a run) waits
        # until OpenRouter's Retry-After has passed.
        self._backoff_until = 0.0

    def __repr__(self) -> str:
        return f"OpenRouterKeys(base_url={str(self._http.base_url)!r})"

    async def create_key(
        self,
        name: str,
        limit: Decimal,
        limit_reset: str | None,
        expires_at: datetime | None,
        *,
        include_byok_in_limit: bool = False,
    ) -> CreatedKey:
        """Create a key with a total spending `limit` (USD); the plaintext is returned once."""
        body: dict[str, Any] = {
            "name": name,
            "limit": _number(limit),
            "limit_reset": _limit_reset(limit_reset),
            "include_byok_in_limit": include_byok_in_limit,
        }
        if expires_at is not None:
            body["expires_at"] = _utc_text(expires_at)
        payload = await self._request("POST", "keys", json=body)
        plaintext = payload.get("key") if isinstance(payload, dict) else None
        if not isinstance(plaintext, str) or not plaintext:
            raise UpstreamError(UPSTREAM, "create key response has no key")
        return CreatedKey(key=parse_key(_data(payload)), plaintext=plaintext)

    async def list_keys(self, *, until_found: Collection[str] = ()) -> list[OpenRouterKey]:
        """Every key of the account, disabled ones included: one sweep of 100-key pages (the
        newest first), until a short page, or (`until_found`) as soon as every one of those
        hashes has been seen, so a sweep for N keys of ours costs ceil(N / 100) requests.

        Offsets move when keys are created or deleted during the sweep: a key can come twice
        (kept once) and, after a deletion, one can be skipped, as with any offset paging."""
        wanted = set(until_found)
        seen: dict[str, OpenRouterKey] = {}
        for page in range(MAX_PAGES):
            payload = await self._request(
                "GET",
                "keys",
                params={"offset": str(page * PAGE_SIZE), "include_disabled": "true"},
            )
            rows = _data(payload)
            if not isinstance(rows, list):
                raise UpstreamError(UPSTREAM, "list keys data is not a list")
            for row in rows:
                key = parse_key(row)
                seen.setdefault(key.hash, key)
            if len(rows) < PAGE_SIZE or (wanted and wanted <= seen.keys()):
                return list(seen.values())
        raise UpstreamError(UPSTREAM, f"list keys did not end within {MAX_PAGES} pages")

    async def get_key(self, key_hash: str) -> OpenRouterKey | None:
        payload = await self._request("GET", _key_path(key_hash), missing_ok=True)
        return None if payload is None else parse_key(_data(payload))

    async def update_key(self, key_hash: str, **changes: Any) -> OpenRouterKey:
        """PATCH any of name, disabled, limit (USD), limit_reset, include_byok_in_limit."""
        unknown = set(changes) - UPDATABLE
        if unknown:
            raise ValueError(f"cannot update key fields {sorted(unknown)}")
        body = dict(changes)
        if "limit" in body and body["limit"] is not None:
            body["limit"] = _number(Decimal(str(body["limit"])))
        if "limit_reset" in body:
            body["limit_reset"] = _limit_reset(body["limit_reset"])
        payload = await self._request("PATCH", _key_path(key_hash), json=body)
        return parse_key(_data(payload))

    async def delete_key(self, key_hash: str) -> bool:
        """Delete a key; False when it did not exist."""
        payload = await self._request("DELETE", _key_path(key_hash), missing_ok=True)
        if payload is None:
            return False
        return not isinstance(payload, dict) or payload.get("deleted", True) is not False

    async def credits(self) -> Credits:
        """What the account bought and used in total (USD); `balance` is what is left."""
        data = _data(await self._request("GET", "credits"))
        try:
            return Credits(
                total_credits=_decimal(data["total_credits"]),
                total_usage=_decimal(data["total_usage"]),
            )
        except (KeyError, TypeError, ValueError):
            raise UpstreamError(UPSTREAM, "malformed credits response") from None

    async def _request(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, str] | None = None,
        json: dict[str, Any] | None = None,
        missing_ok: bool = False,
    ) -> Any:
        if not self._management_key:
            raise UpstreamError(UPSTREAM, "OPENROUTER_MANAGEMENT_KEY not configured")
        # The path carries a key hash, never a key; the label keeps even that out of errors.
        label = f"{method} {path.split('/')[0]}"
        for attempt in range(1, RATE_LIMITED_ATTEMPTS + 1):
            await self._wait_out_backoff()
            try:
                response, body = await exchange(
                    self._http,
                    method,
                    path,
                    key=self._management_key,
                    label=label,
                    allow=(404,) if missing_ok else (),
                    params=params,
                    json=json,
                )
            except UpstreamError as exc:
                if exc.status != 429 or attempt == RATE_LIMITED_ATTEMPTS:
                    raise
                # Refused, not processed (a create made no key): wait as told, then send again.
                wait = exc.retry_after
                self._back_off(RATE_LIMIT_WAIT if wait is None else min(wait, RATE_LIMIT_WAIT_MAX))
                continue
            if response.status_code == 404:
                return None
            if not isinstance(body, dict):
                reason = f"{label} answered without a JSON object"
                raise UpstreamError(UPSTREAM, reason, status=response.status_code)
            return body
        raise AssertionError("unreachable")  # pragma: no cover

    def _back_off(self, seconds: float) -> None:
        self._backoff_until = max(self._backoff_until, self._monotonic() + seconds)

    async def _wait_out_backoff(self) -> None:
        while (left := self._backoff_until - self._monotonic()) > 0:
            await self._sleep(left)


def _key_path(key_hash: str) -> str:
    # The hash may come from a caller: one escaped segment, so no slash, dot segment or control
    # character can send the management key elsewhere.
    return f"keys/{quote(key_hash, safe='')}"


def parse_key(data: Any) -> OpenRouterKey:
    """A key object (GetKeyResponse shape) as our type; USD as Decimal, times as aware UTC."""
    if not isinstance(data, dict) or not isinstance(data.get("hash"), str):
        raise UpstreamError(UPSTREAM, "key object without hash")
    try:
        return OpenRouterKey(
            hash=data["hash"],
            name=str(data.get("name") or ""),
            disabled=bool(data.get("disabled", False)),
            limit=_optional_decimal(data.get("limit")),
            limit_remaining=_optional_decimal(data.get("limit_remaining")),
            limit_reset=data.get("limit_reset") or None,
            usage=_decimal(data.get("usage", 0)),
            usage_daily=_decimal(data.get("usage_daily", 0)),
            usage_weekly=_decimal(data.get("usage_weekly", 0)),
            usage_monthly=_decimal(data.get("usage_monthly", 0)),
            created_at=_time(data.get("created_at")),
            updated_at=_time(data.get("updated_at")),
            expires_at=_time(data.get("expires_at")),
            raw=data,
        )
    except ValueError as exc:
        raise UpstreamError(UPSTREAM, f"malformed key object ({exc})") from None


def _data(payload: Any) -> Any:
    if not isinstance(payload, dict) or "data" not in payload:
        raise UpstreamError(UPSTREAM, "response has no data envelope")
    return payload["data"]


def _decimal(value: Any) -> Decimal:
    if isinstance(value, bool) or value is None:
        raise ValueError(f"not a number: {value!r}")
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        raise ValueError(f"not a number: {value!r}") from None
    if not number.is_finite():
        raise ValueError(f"not a finite number: {value!r}")
    return number


def _optional_decimal(value: Any) -> Decimal | None:
    return None if value is None else _decimal(value)


def _time(value: Any) -> datetime | None:
    if value in (None, ""):
        return None
    moment = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _number(value: Decimal) -> int | float:
    """A Decimal as a JSON number: the shortest float repr round-trips cents exactly."""
    if not value.is_finite():
        raise ValueError("limit must be finite")
    return int(value) if value == value.to_integral_value() else float(value)


def _limit_reset(value: Any) -> str | None:
    if value is None or value in LIMIT_RESETS:
        return value
    raise ValueError(f"limit_reset must be daily, weekly, monthly or None, not {value!r}")


def _utc_text(moment: datetime) -> str:
    if moment.tzinfo is None:
        raise ValueError("expires_at must be timezone-aware")
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
