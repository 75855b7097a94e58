"""The one mapping from HTTP outcomes to UpstreamError that every client shares."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

from arenabrain.clients.errors import (
    UpstreamError,
    error_message,
    retry_after,
    send,
    status_error,
)
from arenabrain.clients.openrouter.chat import OpenRouterChatError
from arenabrain.clients.polymarket import PolymarketError


@pytest.mark.parametrize(
    ("status", "transient"),
    [
        *[(status, False) for status in (302, 400, 401, 404, 501)],
        *[(status, True) for status in (408, 429, 500, 502, 503, 504)],
    ],
)
def test_status_error_is_transient_only_for_statuses_a_retry_can_outlive(
    status: int, transient: bool
) -> None:
    error = status_error("bags", "trade/quote", httpx.Response(status), None)
    assert (error.status, error.transient) == (status, transient)
    assert str(error).startswith(f"bags: trade/quote answered {status}: ")


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({"success": False, "error": "Invalid token"}, "Invalid token"),
        (
            {"error": {"code": 401, "message": "No auth credentials found"}},
            "No auth credentials found",
        ),
        ({"message": "Internal server error"}, "Internal server error"),
        ({"error": "x" * 400}, "x" * 300),
        ({"error": ""}, None),
        ({"error": {"code": 500}}, None),
        ([], None),
        (None, None),
    ],
)
def test_error_message_reads_every_error_shape(body: Any, expected: str | None) -> None:
    assert error_message(body) == expected


def test_status_error_falls_back_to_the_reason_phrase_and_redacts() -> None:
    error = status_error(
        "openrouter",
        "GET keys",
        httpx.Response(503),
        {"error": {"message": "bad key sk-or-v1-abc"}},
        redact=lambda text: text.replace("sk-or-v1-abc", "[redacted]"),
    )
    assert str(error) == "openrouter: GET keys answered 503: bad key [redacted]"
    plain = status_error("solana", "getBalance", httpx.Response(502, text="<html>"), None)
    assert str(plain) == "solana: getBalance answered 502: Bad Gateway"


@pytest.mark.parametrize(
    ("exc", "reason"),
    [
        (httpx.ReadTimeout("slow"), "timed out"),
        (httpx.ConnectError("refused"), "failed: ConnectError"),
    ],
)
async def test_send_turns_timeouts_and_transport_failures_into_transient_errors(
    exc: Exception, reason: str
) -> None:
    def fail(request: httpx.Request) -> httpx.Response:
        raise exc

    async with httpx.AsyncClient(transport=httpx.MockTransport(fail), base_url="https://x") as http:
        with pytest.raises(UpstreamError) as caught:
            await send(http, "bags", "GET", "trade/quote", params={"amount": "1"})
    assert str(caught.value) == f"bags: trade/quote {reason}"
    assert caught.value.transient and caught.value.status is None


async def test_send_maps_other_request_failures_to_a_permanent_error() -> None:
    def fail(request: httpx.Request) -> httpx.Response:
        raise httpx.TooManyRedirects("loop", request=request)

    async with httpx.AsyncClient(transport=httpx.MockTransport(fail), base_url="https://x") as http:
        with pytest.raises(UpstreamError) as caught:
            await send(http, "bags", "GET", "trade/quote")
    assert str(caught.value) == "bags: trade/quote failed: TooManyRedirects"
    assert not caught.value.transient and not caught.value.timed_out


async def test_send_deadline_bounds_the_whole_exchange() -> None:
    async def slow(request: httpx.Request) -> httpx.Response:
        await asyncio.sleep(1)
        return httpx.Response(200)

    async with httpx.AsyncClient(transport=httpx.MockTransport(slow), base_url="https://x") as http:
        with pytest.raises(UpstreamError) as caught:
            await send(http, "openrouter", "POST", "chat/completions", deadline=0.01)
    assert caught.value.timed_out and caught.value.transient
    assert str(caught.value) == "openrouter: chat/completions timed out"


@pytest.mark.parametrize(
    ("header", "seconds"),
    [
        ("2", 2.0),
        ("0.5", 0.5),
        ("0", 0.0),
        ("-1", None),
        ("nan", None),
        ("inf", None),
        ("Wed, 21 Oct 2015 07:28:00 GMT", None),
        (None, None),
    ],
)
def test_retry_after_is_read_in_seconds_when_numeric(
    header: str | None, seconds: float | None
) -> None:
    headers = {} if header is None else {"Retry-After": header}
    response = httpx.Response(429, headers=headers)
    assert retry_after(response) == seconds
    assert status_error("bags", "trade/quote", response, None).retry_after == seconds


@pytest.mark.parametrize(
    ("error", "status", "transient", "text"),
    [
        (PolymarketError, 503, True, "Polymarket API error: 503 Service Unavailable"),
        (PolymarketError, 501, True, "Polymarket API error: 501 Not Implemented"),
        (PolymarketError, 408, False, "Polymarket API error: 408 Request Timeout"),
        (PolymarketError, 422, False, "Polymarket API error: 422 Unprocessable Entity"),
        (OpenRouterChatError, 402, False, "OpenRouter API error: 402 Insufficient credits"),
        (OpenRouterChatError, 503, True, "OpenRouter API error: 503 Insufficient credits"),
    ],
)
def test_every_client_error_is_an_upstream_error_in_its_own_words(
    error: type[UpstreamError], status: int, transient: bool, text: str
) -> None:
    body = {"error": {"code": status, "message": "Insufficient credits"}}
    found = status_error("x", "path", httpx.Response(status), body, error=error)
    assert isinstance(found, error) and isinstance(found, UpstreamError)
    assert (found.upstream, found.status, found.transient) == ("x", status, transient)
    assert str(found) == found.reason == text
