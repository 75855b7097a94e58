"""The Polymarket client: Gamma's dialect parsed into our values, the anchor's query
parameters, label-based token mapping, bounded retries, midpoint batching and fallback."""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
import respx
from hypothesis import given, settings
from hypothesis import strategies as st

from arenabrain.clients.polymarket import (
    MalformedMarket,
    PolymarketClient,
    PolymarketError,
    event_sub_markets,
    parse_book,
    parse_close_date,
    parse_market,
    select_top_markets,
    to_price,
)

GAMMA = "https://gamma.example"
CLOB = "https://clob.example"


def gamma_market(market_id: str = "516710", **fields: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": market_id,
        "question": "Will Bitcoin reach $150,000 by December 31, 2026?",
        "conditionId": "0x5f1b",
        "slug": "btc-150k",
        "description": "Resolves Yes if ...",
        "category": "Crypto",
        "endDate": "2026-12-31T12:00:00Z",
        "endDateIso": "2026-12-31",
        "liquidity": "482113.55",
        "volume": "12873422.914",
        "volumeNum": 12873422.914,
        "outcomes": '["Yes", "No"]',
        "outcomePrices": '["0.185", "0.815"]',
        "clobTokenIds": '["7132", "5211"]',
        "active": True,
        "closed": False,
        "events": [{"id": "21742", "slug": "bitcoin-2026", "title": "Bitcoin in 2026"}],
    }
    body.update(fields)
    return {k: v for k, v in body.items() if v is not ...}


# --- parsing ----------------------------------------------------------------------------


def test_binary_market_parses_string_arrays_and_string_numbers() -> None:
    market = parse_market(gamma_market())
    assert market.polymarket_id == "516710"
    assert market.market_type == "binary"
    assert market.yes_price == 0.185
    assert market.token_ids == {"YES": "7132", "NO": "5211"}
    assert market.volume == 12873422.914 and market.liquidity == 482113.55
    assert market.event_slug == "bitcoin-2026"
    assert market.close_date == datetime(2026, 12, 31, 12, tzinfo=UTC)
    assert market.status == "active"


def test_tokens_map_by_label_not_by_position() -> None:
    market = parse_market(
        gamma_market(
            outcomes='["no", "YES"]',
            outcomePrices='["0.7", "0.3"]',
            clobTokenIds='["no-token", "yes-token"]',
        )
    )
    assert market.is_binary
    assert market.yes_price == 0.3
    assert market.token_ids == {"YES": "yes-token", "NO": "no-token"}
    assert market.outcome("Yes") is not None and market.outcome("Yes").token_id == "yes-token"


def test_multi_outcome_market_keeps_labels() -> None:
    market = parse_market(
        gamma_market(
            outcomes=["Alice", "Bob", "Carol"],
            outcomePrices=["0.5", "0.3", "0.2"],
            clobTokenIds='["a", "b", "c"]',
        )
    )
    assert market.market_type == "multi_outcome"
    assert market.yes_price is None
    assert market.prices == {"Alice": 0.5, "Bob": 0.3, "Carol": 0.2}
    assert market.token_ids == {"Alice": "a", "Bob": "b", "Carol": "c"}
    assert market.outcome("alice") is None  # only YES/NO are case-insensitive


def test_two_outcomes_that_are_not_yes_no_are_multi_outcome() -> None:
    market = parse_market(gamma_market(outcomes='["Lakers", "Celtics"]'))
    assert market.market_type == "multi_outcome"
    assert market.token_ids == {"Lakers": "7132", "Celtics": "5211"}


@pytest.mark.parametrize(
    "tokens",
    [..., None, "", "not json", '["only-one"]', '["a", "b", "c"]', '{"a": 1}'],
    ids=["absent", "null", "empty", "garbage", "too few", "too many", "object"],
)
def test_missing_or_misaligned_tokens_give_no_mapping_but_keep_the_market(tokens: Any) -> None:
    market = parse_market(gamma_market(clobTokenIds=tokens))
    assert market.token_ids == {}
    assert market.yes_price == 0.185


@pytest.mark.parametrize(
    ("prices", "expected"),
    [
        ('["0.185", "0.815"]', 0.185),
        ('["abc", "0.815"]', None),
        ('["1.5", "-0.5"]', None),
        ('["NaN", "0.5"]', None),
        ('["Infinity", "0"]', None),
        ("[null, null]", None),
        ('["0.2"]', None),  # fewer prices than outcomes: none can be trusted
        ("garbage", None),
        ([0.25, 0.75], 0.25),
        (["0", "1"], 0.0),
    ],
)
def test_invalid_prices_become_unknown(prices: Any, expected: float | None) -> None:
    market = parse_market(gamma_market(outcomePrices=prices))
    assert market.yes_price == expected


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"endDate": "2999-12-31T23:59:59Z"}, datetime(2999, 12, 31, 23, 59, 59, tzinfo=UTC)),
        ({"endDate": "9999-12-31T00:00:00Z"}, datetime(9999, 12, 31, tzinfo=UTC)),
        ({"endDate": "+275760-09-13T00:00:00Z", "endDateIso": ...}, None),
        ({"endDate": "garbage", "endDateIso": "2027-02-01"}, datetime(2027, 2, 1, tzinfo=UTC)),
        ({"endDate": "99999-01-01", "endDateIso": ...}, None),
        ({"endDate": ..., "endDateIso": "2027-01-15"}, datetime(2027, 1, 15, tzinfo=UTC)),
        ({"endDate": "2026-06-17T18:00:00.000Z"}, datetime(2026, 6, 17, 18, tzinfo=UTC)),
        ({"endDate": "2026-06-17T20:00:00+02:00"}, datetime(2026, 6, 17, 18, tzinfo=UTC)),
        ({"end_date_iso": "2026-05-01T00:00:00Z"}, datetime(2026, 5, 1, tzinfo=UTC)),
        ({"endDate": ..., "endDateIso": ...}, None),
    ],
)
def test_close_dates_far_future_and_odd_formats(
    fields: dict[str, Any], expected: datetime | None
) -> None:
    assert parse_market(gamma_market(**fields)).close_date == expected


def test_far_future_market_stays_active() -> None:
    market = parse_market(gamma_market(endDate="2999-01-01T00:00:00Z"))
    assert market.status == "active"


@pytest.mark.parametrize(
    ("fields", "status", "winner"),
    [
        ({}, "active", None),
        ({"closed": True, "outcomePrices": '["1", "0"]'}, "resolved", "YES"),
        ({"closed": True, "outcomePrices": '["0.001", "0.999"]'}, "resolved", "NO"),
        ({"closed": True, "outcomePrices": '["0.52", "0.48"]'}, "closed", None),
        ({"closed": True, "outcomePrices": '["1", "1"]'}, "closed", None),
        ({"resolved": True}, "resolved", None),
        ({"active": False}, "active", None),
    ],
)
def test_status_is_derived_like_the_anchor(
    fields: dict[str, Any], status: str, winner: str | None
) -> None:
    market = parse_market(gamma_market(**fields))
    assert market.status == status
    assert market.decisive_winner == winner


def test_legacy_tokens_are_accepted() -> None:
    raw = gamma_market(
        outcomes=...,
        outcomePrices=...,
        clobTokenIds=...,
        closed=True,
        tokens=[
            {"outcome": "Yes", "token_id": "1111", "price": "1", "winner": True},
            {"outcome": "No", "token_id": "2222", "price": "0"},
        ],
    )
    market = parse_market(raw)
    assert market.token_ids == {"YES": "1111", "NO": "2222"}
    assert market.decisive_winner == "YES"


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("not an object", "not an object"),
        (gamma_market(id=None, conditionId=None), "neither id nor conditionId"),
        (gamma_market(outcomes=None), "no outcomes"),
        (gamma_market(outcomes="[]"), "no outcomes"),
        (gamma_market(outcomes='["Yes", "yes"]'), "duplicate"),
        (gamma_market(outcomes='["Yes", 3]'), "non-empty strings"),
    ],
)
def test_malformed_markets_are_rejected_with_a_reason(raw: Any, reason: str) -> None:
    with pytest.raises(MalformedMarket, match=reason):
        parse_market(raw)


def test_condition_id_is_the_fallback_id() -> None:
    assert parse_market(gamma_market(id=None)).polymarket_id == "0x5f1b"


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.floats() | st.integers() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner),
    max_leaves=8,
)
FIELD = JSON_VALUES | JSON_VALUES.map(json.dumps)
GAMMA_FIELDS = [
    "id",
    "conditionId",
    "question",
    "outcomes",
    "outcomePrices",
    "clobTokenIds",
    "tokens",
    "endDate",
    "endDateIso",
    "closed",
    "active",
    "resolved",
    "volume",
    "volumeNum",
    "liquidity",
    "events",
    "tags",
    "category",
]


@settings(deadline=None)  # a pure parse: a loaded CI machine must not fail it on time alone
@given(st.fixed_dictionaries({}, optional=dict.fromkeys(GAMMA_FIELDS, FIELD)))
def test_parsing_never_raises_anything_but_malformed(raw: dict[str, Any]) -> None:
    with contextlib.suppress(MalformedMarket):
        parse_market(raw)


@given(st.one_of(st.none(), st.text(), st.floats(allow_nan=True), st.integers(), st.booleans()))
def test_prices_are_always_valid_probabilities_or_none(value: Any) -> None:
    price = to_price(value)
    assert price is None or 0.0 <= price <= 1.0


def test_parse_close_date_handles_date_only_and_garbage() -> None:
    assert parse_close_date("2026-12-31") == datetime(2026, 12, 31, tzinfo=UTC)
    assert parse_close_date("soon") is None
    assert parse_close_date(None) is None


# --- selection: dedupe and ordering ---------------------------------------------------------------


def test_top_markets_dedupe_first_wins_and_order_by_volume() -> None:
    direct = [
        gamma_market("1", volumeNum=100.0, question="direct copy", events=...),
        gamma_market("2", volumeNum=None, volume="300.5"),
        gamma_market("3", volumeNum=50.0),
        {"id": "bad", "outcomes": "nope"},
    ]
    events = [
        {
            "slug": "parent",
            "volume": 999.0,
            "markets": [
                gamma_market("1", volumeNum=100.0, question="event copy", events=...),
                gamma_market("4", volumeNum=200.0, events=...),
                gamma_market("5", volumeNum=0, events=...),  # untraded
                gamma_market("6", volumeNum=900.0, closed=True, events=...),  # closed
                gamma_market("7", volumeNum=900.0, active=False, events=...),  # inactive
            ],
        },
        {"slug": "no markets"},
    ]
    top = select_top_markets(direct, event_sub_markets(events), count=10)
    assert [m.polymarket_id for m in top.markets] == ["2", "4", "1", "3"]
    first = next(m for m in top.markets if m.polymarket_id == "1")
    assert first.question == "direct copy"  # the direct copy wins ...
    assert first.event_slug == "parent"  # ... and the event copy fills its missing slug
    assert next(m for m in top.markets if m.polymarket_id == "4").event_slug == "parent"
    assert [str(s) for s in top.skipped] == ["bad: no outcomes"]


def test_top_markets_cut_to_count_with_stable_ties() -> None:
    direct = [gamma_market(str(i), volumeNum=10.0) for i in range(5)]
    top = select_top_markets(direct, [], count=3)
    assert [m.polymarket_id for m in top.markets] == ["0", "1", "2"]


# --- the HTTP client ------------------------------------------------------------------------


class Sleeps(list[float]):
    async def __call__(self, seconds: float) -> None:
        self.append(seconds)


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


@pytest.fixture
async def client(sleeps: Sleeps) -> AsyncIterator[PolymarketClient]:
    async with (
        httpx.AsyncClient(base_url=GAMMA + "/") as gamma,
        httpx.AsyncClient(base_url=CLOB + "/") as clob,
    ):
        yield PolymarketClient(gamma, clob, sleep=sleeps)


async def test_list_calls_send_the_anchor_parameters_in_order(client: PolymarketClient) -> None:
    with respx.mock(base_url=GAMMA, assert_all_called=True) as mock:
        markets = mock.get("/markets").mock(return_value=httpx.Response(200, json=[]))
        events = mock.get("/events").mock(return_value=httpx.Response(200, json=[]))
        top = await client.gamma.top_markets(500)
    assert top.markets == []
    assert markets.calls.last.request.url.query.decode() == (
        "limit=500&offset=0&active=true&closed=false&order=volumeNum&ascending=false"
    )
    assert events.calls.last.request.url.query.decode() == (
        "limit=500&offset=0&order=volume&ascending=false&closed=false"
    )
    assert markets.calls.last.request.headers["accept"] == "application/json"


async def test_small_counts_still_ask_for_fifty_events(client: PolymarketClient) -> None:
    with respx.mock(base_url=GAMMA) as mock:
        mock.get("/markets").mock(return_value=httpx.Response(200, json=[]))
        events = mock.get("/events").mock(return_value=httpx.Response(200, json=[]))
        await client.gamma.top_markets(10)
    assert events.calls.last.request.url.params["limit"] == "50"


async def test_large_counts_page_through_gamma(client: PolymarketClient) -> None:
    def page(request: httpx.Request) -> httpx.Response:
        offset = int(request.url.params["offset"])
        size = 500 if offset < 1000 else 123
        return httpx.Response(
            200, json=[gamma_market(str(offset + i), volumeNum=float(i)) for i in range(size)]
        )

    with respx.mock(base_url=GAMMA) as mock:
        markets = mock.get("/markets").mock(side_effect=page)
        mock.get("/events").mock(return_value=httpx.Response(200, json=[]))
        top = await client.gamma.top_markets(2000)
    assert [c.request.url.params["offset"] for c in markets.calls] == ["0", "500", "1000"]
    assert len(top.markets) == 1123


async def test_wrapper_object_is_accepted(client: PolymarketClient) -> None:
    with respx.mock(base_url=GAMMA) as mock:
        mock.get("/markets").mock(
            return_value=httpx.Response(200, json={"markets": [gamma_market()]})
        )
        mock.get("/events").mock(return_value=httpx.Response(200, json={"not": "a list"}))
        top = await client.gamma.top_markets(5)
    assert [m.polymarket_id for m in top.markets] == ["516710"]


async def test_429_is_retried_after_the_advertised_delay(
    client: PolymarketClient, sleeps: Sleeps
) -> None:
    with respx.mock(base_url=GAMMA) as mock:
        route = mock.get("/markets").mock(
            side_effect=[
                httpx.Response(429, headers={"Retry-After": "2"}),
                httpx.Response(200, json=[gamma_market()]),
            ]
        )
        found = await client.gamma.list_markets(5)
    assert route.call_count == 2
    assert sleeps == [2.0]
    assert len(found) == 1


async def test_5xx_is_retried_with_backoff_then_reported(
    client: PolymarketClient, sleeps: Sleeps
) -> None:
    with respx.mock(base_url=GAMMA) as mock:
        route = mock.get("/markets").mock(return_value=httpx.Response(503))
        with pytest.raises(PolymarketError) as caught:
            await client.gamma.list_markets(5)
    assert route.call_count == 3
    assert sleeps == [0.5, 1.0]
    assert str(caught.value) == "Polymarket API error: 503 Service Unavailable"
    assert caught.value.status == 503


async def test_4xx_is_not_retried(client: PolymarketClient, sleeps: Sleeps) -> None:
    with respx.mock(base_url=GAMMA) as mock:
        route = mock.get("/markets").mock(return_value=httpx.Response(422))
        with pytest.raises(PolymarketError, match="422"):
            await client.gamma.list_markets(5)
    assert route.call_count == 1 and sleeps == []


async def test_a_body_that_is_not_json_is_a_polymarket_error_with_its_status(
    client: PolymarketClient, sleeps: Sleeps
) -> None:
    with respx.mock(base_url=GAMMA) as mock:
        mock.get("/markets").mock(return_value=httpx.Response(200, text="<html>maintenance"))
        with pytest.raises(PolymarketError) as caught:
            await client.gamma.list_markets(5)
    assert str(caught.value) == "Polymarket answered 200 with a body that is not JSON"
    assert (caught.value.status, caught.value.transient) == (200, False)
    assert sleeps == []


async def test_transport_errors_are_retried(client: PolymarketClient, sleeps: Sleeps) -> None:
    with respx.mock(base_url=GAMMA) as mock:
        route = mock.get("/markets").mock(
            side_effect=[httpx.ConnectError("refused"), httpx.Response(200, json=[])]
        )
        assert await client.gamma.list_markets(5) == []
    assert route.call_count == 2 and sleeps == [0.5]


async def test_market_by_id_404_means_gone(client: PolymarketClient) -> None:
    with respx.mock(base_url=GAMMA) as mock:
        mock.get("/markets/404404").mock(return_value=httpx.Response(404, json={"error": "x"}))
        mock.get("/markets/540817").mock(
            return_value=httpx.Response(
                200, json=gamma_market("540817", closed=True, outcomePrices='["1", "0"]')
            )
        )
        assert await client.gamma.fetch_market("404404") is None
        market = await client.gamma.fetch_market("540817")
    assert market is not None and market.status == "resolved"


async def test_market_by_id_timeout_names_the_market(client: PolymarketClient) -> None:
    with respx.mock(base_url=GAMMA) as mock:
        mock.get("/markets/1").mock(side_effect=httpx.ReadTimeout("slow"))
        with pytest.raises(PolymarketError, match="timeout after 15000ms for market 1"):
            await client.gamma.fetch_market("1")


async def test_midpoints_go_in_batches_of_at_most_500(client: PolymarketClient) -> None:
    tokens = [f"t{i}" for i in range(1200)] + ["t0", ""]

    def answer(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        return httpx.Response(200, json={item["token_id"]: "0.5" for item in body})

    with respx.mock(base_url=CLOB) as mock:
        route = mock.post("/midpoints").mock(side_effect=answer)
        prices = await client.clob.midpoints(tokens)
    sizes = sorted(len(json.loads(call.request.content)) for call in route.calls)
    assert sizes == [200, 500, 500]
    assert len(prices) == 1200 and prices["t7"] == 0.5


async def test_midpoint_values_outside_zero_one_are_ignored(client: PolymarketClient) -> None:
    with respx.mock(base_url=CLOB) as mock:
        mock.post("/midpoints").mock(
            return_value=httpx.Response(
                200, json={"a": "0.185", "b": 0.785, "c": "1.2", "d": "x", "e": None, "zz": "0.1"}
            )
        )
        prices = await client.clob.midpoints(["a", "b", "c", "d", "e", "f"])
    assert prices == {"a": 0.185, "b": 0.785}


async def test_failed_batch_falls_back_to_one_midpoint_per_token(
    client: PolymarketClient,
) -> None:
    def one(request: httpx.Request) -> httpx.Response:
        token = request.url.params["token_id"]
        if token == "gone":
            return httpx.Response(404, json={"error": "No orderbook exists"})
        if token == "broken":
            return httpx.Response(500)
        return httpx.Response(200, json={"mid": "0.33"})

    with respx.mock(base_url=CLOB) as mock:
        batch = mock.post("/midpoints").mock(return_value=httpx.Response(500))
        single = mock.get("/midpoint").mock(side_effect=one)
        prices = await client.clob.midpoints(["a", "gone", "broken", "b"])
    assert prices == {"a": 0.33, "b": 0.33}
    assert batch.call_count == 3  # the batch itself is retried first
    assert single.call_count == 4  # then exactly one call per token


async def test_no_tokens_no_call(client: PolymarketClient) -> None:
    with respx.mock(base_url=CLOB, assert_all_called=False) as mock:
        route = mock.post("/midpoints")
        assert await client.clob.midpoints(["", ""]) == {}
    assert route.call_count == 0


async def test_book_sorts_both_sides_best_first(client: PolymarketClient) -> None:
    wire = {
        "market": "0x5f",
        "asset_id": "7181",
        "timestamp": "1731628800123",
        "bids": [
            {"price": "0.58", "size": "900"},
            {"price": "0.60", "size": "1200"},
            {"price": "0.61", "size": "340"},
        ],
        "asks": [
            {"price": "0.66", "size": "500"},
            {"price": "0.63", "size": "800"},
            {"price": "0.62", "size": "210"},
        ],
        "min_order_size": "5",
        "tick_size": "0.01",
    }
    with respx.mock(base_url=CLOB) as mock:
        mock.get("/book", params={"token_id": "none"}).mock(return_value=httpx.Response(404))
        mock.get("/book").mock(return_value=httpx.Response(200, json=wire))
        book = await client.clob.book("7181")
        assert await client.clob.book("none") is None
    assert book is not None
    assert book.best_bid == 0.61 and book.best_ask == 0.62
    assert [level.price for level in book.asks] == [0.62, 0.63, 0.66]
    assert book.midpoint == pytest.approx(0.615)
    assert book.timestamp_ms == 1731628800123 and book.tick_size == 0.01


def test_book_skips_bad_levels() -> None:
    book = parse_book("t", {"bids": [{"price": "x", "size": "1"}, "junk"], "asks": None})
    assert book.bids == () and book.asks == () and book.midpoint is None
