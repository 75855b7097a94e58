"""The one mapping from HTTP outcomes to UpstreamError that the CreditBrain clients share."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from arenabrain.clients.errors import UpstreamError
from arenabrain.clients.upstream_errors import error_message, send, status_error


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
