"""The OpenRouter key-management client against respx: envelopes, paging, 404s, errors."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import httpx
import pytest
import respx

from arenabrain.clients.errors import UpstreamError
from arenabrain.clients.openrouter.keys import Credits, OpenRouterKeys, parse_key

BASE = "https://openrouter.ai/api/v1"
MANAGEMENT = "sk-or-v1-management-secret"
PLAINTEXT = "sk-or-v1-0d5c0ffee"


def key_object(hash_: str = "f01d", **extra: object) -> dict[str, object]:
    data: dict[str, object] = {
        "hash": hash_,
        "name": "creditbrain-3f0c2a9e-5xKpPqRE",
        "label": "sk-or-v1-0d5...e7a",
        "disabled": False,
        "limit": 100,
        "limit_remaining": 74.5,
        "limit_reset": "monthly",
        "include_byok_in_limit": False,
        "usage": 25.5,
        "usage_daily": 1.25,
        "usage_weekly": 5,
        "usage_monthly": 25.5,
        "created_at": "2026-03-29T12:00:01.221Z",
        "updated_at": None,
        "expires_at": "2027-03-29T12:00:00Z",
    }
    data.update(extra)
    return data


class Ticker:
    """A monotonic clock that only the client's waits move."""

    def __init__(self) -> None:
        self.now = 0.0
        self.waits: list[float] = []

    async def sleep(self, seconds: float) -> None:
        self.waits.append(seconds)
        self.now += seconds

    def monotonic(self) -> float:
        return self.now


@pytest.fixture
def ticker() -> Ticker:
    return Ticker()


@pytest.fixture
async def keys(ticker: Ticker) -> AsyncIterator[OpenRouterKeys]:
    async with httpx.AsyncClient(base_url=BASE + "/") as http:
        yield OpenRouterKeys(http, MANAGEMENT, sleep=ticker.sleep, monotonic=ticker.monotonic)


@respx.mock
async def test_create_key_sends_enum_reset_and_utc_expiry(keys: OpenRouterKeys) -> None:
    route = respx.post(f"{BASE}/keys").mock(
        return_value=httpx.Response(201, json={"data": key_object(), "key": PLAINTEXT})
    )
    expires = datetime(2027, 3, 29, 14, 0, tzinfo=timezone(timedelta(hours=2)))
    created = await keys.create_key("creditbrain-x", Decimal("12.34"), "monthly", expires)
    request = route.calls.last.request
    assert request.headers["authorization"] == f"Bearer {MANAGEMENT}"
    assert json.loads(request.content) == {
        "name": "creditbrain-x",
        "limit": 12.34,
        "limit_reset": "monthly",
        "include_byok_in_limit": False,
        "expires_at": "2027-03-29T12:00:00Z",
    }
    assert b'"limit":12.34' in request.content.replace(b" ", b"")
    assert created.plaintext == PLAINTEXT
    assert created.key.hash == "f01d"
    assert created.key.limit_remaining == Decimal("74.5")
    assert created.key.usage_daily == Decimal("1.25")
    assert created.key.created_at == datetime(2026, 3, 29, 12, 0, 1, 221000, tzinfo=UTC)
    assert created.key.updated_at is None


async def test_create_key_rejects_bad_reset_and_naive_expiry(keys: OpenRouterKeys) -> None:
    with pytest.raises(ValueError, match="limit_reset"):
        await keys.create_key("n", Decimal(1), "2026-04-01", None)
    with pytest.raises(ValueError, match="timezone-aware"):
        await keys.create_key("n", Decimal(1), None, datetime(2027, 1, 1))


@respx.mock
async def test_list_keys_pages_by_100_until_a_short_page(keys: OpenRouterKeys) -> None:
    pages = {
        "0": [key_object(f"h{i}") for i in range(100)],
        "100": [key_object(f"h{i}") for i in range(100, 200)],
        "200": [key_object("h200", disabled=True)],
    }
    route = respx.get(f"{BASE}/keys").mock(
        side_effect=lambda request: httpx.Response(
            200, json={"data": pages[request.url.params["offset"]]}
        )
    )
    listed = await keys.list_keys()
    assert [call.request.url.params["offset"] for call in route.calls] == ["0", "100", "200"]
    assert all(call.request.url.params["include_disabled"] == "true" for call in route.calls)
    assert len(listed) == 201
    assert listed[-1].disabled is True


@respx.mock
async def test_a_sweep_for_given_keys_stops_once_it_has_seen_them(keys: OpenRouterKeys) -> None:
    pages = {str(n): [key_object(f"h{i}") for i in range(n, n + 100)] for n in (0, 100, 200)}
    route = respx.get(f"{BASE}/keys").mock(
        side_effect=lambda request: httpx.Response(
            200, json={"data": pages[request.url.params["offset"]]}
        )
    )
    listed = await keys.list_keys(until_found=["h5", "h150"])
    assert route.call_count == 2 and len(listed) == 200  # no third request, no empty page


@respx.mock
async def test_a_key_shifted_onto_the_next_page_is_listed_once(keys: OpenRouterKeys) -> None:
    # A key created between the two requests pushes h99 from page 1 to the top of page 2.
    pages = {
        "0": [key_object(f"h{i}") for i in range(100)],
        "100": [key_object("h99"), key_object("h100")],
    }
    respx.get(f"{BASE}/keys").mock(
        side_effect=lambda request: httpx.Response(
            200, json={"data": pages[request.url.params["offset"]]}
        )
    )
    listed = await keys.list_keys()
    assert [k.hash for k in listed] == [f"h{i}" for i in range(101)]


@respx.mock
async def test_a_429_is_sent_again_after_retry_after(keys: OpenRouterKeys, ticker: Ticker) -> None:
    answers = iter(
        [
            httpx.Response(429, headers={"Retry-After": "7"}, json={"error": {"code": 429}}),
            httpx.Response(201, json={"data": key_object(), "key": PLAINTEXT}),
        ]
    )
    route = respx.post(f"{BASE}/keys").mock(side_effect=lambda request: next(answers))
    created = await keys.create_key("n", Decimal(5), None, None)
    assert created.plaintext == PLAINTEXT and route.call_count == 2
    assert ticker.waits == [7.0]


@respx.mock
async def test_a_429_that_lasts_ends_as_a_transient_error(
    keys: OpenRouterKeys, ticker: Ticker
) -> None:
    respx.get(f"{BASE}/credits").mock(
        return_value=httpx.Response(429, json={"error": {"code": 429, "message": "slow down"}})
    )
    with pytest.raises(UpstreamError) as caught:
        await keys.credits()
    assert (caught.value.status, caught.value.transient) == (429, True)
    assert ticker.waits == [1.0, 1.0, 1.0]  # no Retry-After: a second, three times


@respx.mock
async def test_list_keys_stops_on_an_empty_page(keys: OpenRouterKeys) -> None:
    route = respx.get(f"{BASE}/keys").mock(return_value=httpx.Response(200, json={"data": []}))
    assert await keys.list_keys() == []
    assert route.call_count == 1


@respx.mock
async def test_bare_array_is_not_mistaken_for_the_envelope(keys: OpenRouterKeys) -> None:
    respx.get(f"{BASE}/keys").mock(return_value=httpx.Response(200, json=[key_object()]))
    with pytest.raises(UpstreamError, match="without a JSON object"):
        await keys.list_keys()


@respx.mock
async def test_get_key_unwraps_and_404_is_none(keys: OpenRouterKeys) -> None:
    respx.get(f"{BASE}/keys/f01d").mock(
        return_value=httpx.Response(
            200, json={"data": key_object(limit=None, limit_remaining=None)}
        )
    )
    respx.get(f"{BASE}/keys/gone").mock(
        return_value=httpx.Response(404, json={"error": {"code": 404, "message": "Key not found"}})
    )
    found = await keys.get_key("f01d")
    assert found is not None and found.limit is None and found.limit_remaining is None
    assert await keys.get_key("gone") is None


@respx.mock
async def test_a_key_hash_is_sent_as_one_escaped_path_segment(keys: OpenRouterKeys) -> None:
    """A hash comes from callers (GET /api/keys/{key_hash}): a slash, a dot segment or a control
    character must not leave the key's path (the management key rides along) nor raise."""
    missing = httpx.Response(404, json={"error": {"code": 404, "message": "Key not found"}})
    lookups = respx.route(url__startswith=f"{BASE}/keys/").mock(return_value=missing)
    credits = respx.get(f"{BASE}/credits").mock(return_value=httpx.Response(200, json={}))
    assert await keys.get_key("../credits") is None
    assert await keys.get_key("\x1f?x=1#") is None
    assert await keys.delete_key("a/b") is False
    sent = [call.request.url.raw_path for call in respx.calls]
    assert sent == [
        b"/api/v1/keys/..%2Fcredits",
        b"/api/v1/keys/%1F%3Fx%3D1%23",
        b"/api/v1/keys/a%2Fb",
    ]
    assert lookups.call_count == 3 and not credits.called


@respx.mock
async def test_update_key_sends_only_the_changes(keys: OpenRouterKeys) -> None:
    route = respx.patch(f"{BASE}/keys/f01d").mock(
        return_value=httpx.Response(200, json={"data": key_object(limit=150, disabled=True)})
    )
    updated = await keys.update_key("f01d", limit=Decimal("150.00"), disabled=True)
    assert json.loads(route.calls.last.request.content) == {"limit": 150, "disabled": True}
    assert updated.limit == Decimal(150) and updated.disabled


async def test_update_key_rejects_unknown_fields(keys: OpenRouterKeys) -> None:
    with pytest.raises(ValueError, match="cannot update"):
        await keys.update_key("f01d", usage=0)


@respx.mock
async def test_delete_key(keys: OpenRouterKeys) -> None:
    respx.delete(f"{BASE}/keys/f01d").mock(return_value=httpx.Response(200, json={"deleted": True}))
    respx.delete(f"{BASE}/keys/gone").mock(
        return_value=httpx.Response(404, json={"error": {"code": 404, "message": "not found"}})
    )
    assert await keys.delete_key("f01d") is True
    assert await keys.delete_key("gone") is False


@respx.mock
async def test_credits_parse_to_decimal(keys: OpenRouterKeys) -> None:
    respx.get(f"{BASE}/credits").mock(
        return_value=httpx.Response(
            200, json={"data": {"total_credits": 1250.5, "total_usage": 318.75}}
        )
    )
    credits = await keys.credits()
    assert credits == Credits(Decimal("1250.5"), Decimal("318.75"))
    assert credits.balance == Decimal("931.75")


@pytest.mark.parametrize(
    ("status", "transient"),
    [(400, False), (401, False), (402, False), (408, True), (429, True), (500, True), (502, True)],
)
@respx.mock
async def test_errors_carry_status_and_transience(
    keys: OpenRouterKeys, status: int, transient: bool
) -> None:
    respx.get(f"{BASE}/credits").mock(
        return_value=httpx.Response(
            status, json={"error": {"code": status, "message": f"echo {MANAGEMENT} {PLAINTEXT}"}}
        )
    )
    with pytest.raises(UpstreamError) as caught:
        await keys.credits()
    error = caught.value
    assert (error.upstream, error.status, error.transient) == ("openrouter", status, transient)
    assert MANAGEMENT not in str(error) and PLAINTEXT not in str(error)


@respx.mock
async def test_timeout_is_transient_and_secret_free(keys: OpenRouterKeys) -> None:
    respx.post(f"{BASE}/keys").mock(side_effect=httpx.ConnectTimeout("slow"))
    with pytest.raises(UpstreamError, match="timed out") as caught:
        await keys.create_key("n", Decimal(5), None, None)
    assert caught.value.transient
    assert MANAGEMENT not in repr(keys)


@respx.mock
async def test_create_without_plaintext_is_an_error(keys: OpenRouterKeys) -> None:
    respx.post(f"{BASE}/keys").mock(return_value=httpx.Response(201, json={"data": key_object()}))
    with pytest.raises(UpstreamError, match="no key"):
        await keys.create_key("n", Decimal(5), None, None)


async def test_missing_management_key_fails_before_any_request() -> None:
    async with httpx.AsyncClient(base_url=BASE + "/") as http:
        with pytest.raises(UpstreamError, match="OPENROUTER_MANAGEMENT_KEY"):
            await OpenRouterKeys(http, "").credits()


def test_parse_key_rejects_objects_without_hash() -> None:
    with pytest.raises(UpstreamError, match="without hash"):
        parse_key({"name": "x"})


@respx.mock
async def test_a_proxy_html_error_page_is_a_transient_status_error(keys: OpenRouterKeys) -> None:
    page = "<html><head><title>502 Bad Gateway</title></head><body>cloudflare</body></html>"
    respx.patch(f"{BASE}/keys/f01d").mock(
        return_value=httpx.Response(502, text=page, headers={"content-type": "text/html"})
    )
    with pytest.raises(UpstreamError) as caught:
        await keys.update_key("f01d", limit=Decimal("12.5"))
    error = caught.value
    assert (error.status, error.transient) == (502, True)
    assert str(error) == "openrouter: PATCH keys answered 502: Bad Gateway"
