"""The Polymarket emulators: real wire shapes and quirks, prices that move with the world's
clock, the knobs tests rely on, and a world size that scales to the benchmark's."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import httpx
import pytest

from arenabrain.clients.polymarket import PolymarketClient, parse_market
from arenabrain.clock import FrozenClock
from arenabrain.sandbox import Sandbox, World
from arenabrain.sandbox.openrouter import openrouter_state
from arenabrain.sandbox.polymarket import (
    add_raw_market,
    close_market,
    configure_markets,
    inject_failure,
    listed_markets,
    market_prices,
    polymarket_state,
    remove_market,
    resolve_market,
    set_prices,
    token_of,
)


@pytest.fixture
def world(clock: FrozenClock, sandbox: Sandbox) -> World:
    return sandbox.world


@pytest.fixture
async def gamma(sandbox: Sandbox) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(
        base_url="https://gamma-api.polymarket.com", transport=sandbox.transports()["gamma"]
    ) as client:
        yield client


@pytest.fixture
async def clob(sandbox: Sandbox) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(
        base_url="https://clob.polymarket.com", transport=sandbox.transports()["clob"]
    ) as client:
        yield client


def top(world: World) -> str:
    return listed_markets(world)[0].id


def binary_id(world: World) -> str:
    return next(m.id for m in listed_markets(world) if m.outcomes == ["Yes", "No"])


async def test_markets_keep_gammas_string_quirks(gamma: httpx.AsyncClient) -> None:
    response = await gamma.get(
        "/markets",
        params={"limit": 5, "active": "true", "closed": "false", "order": "volumeNum"},
    )
    assert response.status_code == 200
    for market in response.json():
        assert isinstance(market["outcomes"], str)
        assert isinstance(market["outcomePrices"], str)
        assert isinstance(market["clobTokenIds"], str)
        assert isinstance(market["volume"], str) and isinstance(market["liquidity"], str)
        assert isinstance(market["volumeNum"], float)
        prices = json.loads(market["outcomePrices"])
        assert all(isinstance(p, str) for p in prices)
        assert len(json.loads(market["clobTokenIds"])) == len(json.loads(market["outcomes"]))
        assert len(json.loads(market["clobTokenIds"])[0]) == 77  # decimal token ids


async def test_markets_sort_and_page(gamma: httpx.AsyncClient) -> None:
    params = {"order": "volumeNum", "ascending": "false", "closed": "false"}
    first = (await gamma.get("/markets", params={**params, "limit": 10, "offset": 0})).json()
    second = (await gamma.get("/markets", params={**params, "limit": 10, "offset": 10})).json()
    volumes = [m["volumeNum"] for m in first + second]
    assert volumes == sorted(volumes, reverse=True)
    assert not {m["id"] for m in first} & {m["id"] for m in second}


async def test_events_carry_numeric_volumes_and_full_markets(gamma: httpx.AsyncClient) -> None:
    events = (await gamma.get("/events", params={"limit": 50, "order": "volume"})).json()
    assert events
    for event in events:
        assert isinstance(event["volume"], float) and isinstance(event["liquidity"], float)
        assert event["markets"] and isinstance(event["markets"][0]["outcomePrices"], str)
    volumes = [e["volume"] for e in events]
    assert volumes == sorted(volumes)  # ascending unless asked otherwise


async def test_some_event_markets_are_only_listed_under_events(
    world: World, gamma: httpx.AsyncClient
) -> None:
    listed = {m["id"] for m in (await gamma.get("/markets", params={"limit": 500})).json()}
    events = (await gamma.get("/events", params={"limit": 500})).json()
    in_events = {m["id"] for e in events for m in e["markets"]}
    assert in_events - listed, "the sync must read /events to see every market"
    assert in_events & listed, "and must deduplicate the ones listed in both"


async def test_multi_outcome_and_reversed_binary_markets_exist(world: World) -> None:
    markets = polymarket_state(world).markets.values()
    assert any(m.outcomes[0] not in ("Yes", "No") for m in markets)
    assert any(m.outcomes == ["No", "Yes"] for m in markets)


async def test_market_by_id_and_unknown_404(world: World, gamma: httpx.AsyncClient) -> None:
    found = await gamma.get(f"/markets/{top(world)}")
    assert found.status_code == 200 and found.json()["id"] == top(world)
    assert (await gamma.get("/markets/1")).status_code == 404
    remove_market(world, top(world))
    assert (await gamma.get(f"/markets/{top(world)}")).status_code == 404


async def test_prices_move_with_the_world_clock(world: World, clock: FrozenClock) -> None:
    market_id = binary_id(world)
    before = market_prices(world, market_id)
    clock.advance(hours=36)
    after = market_prices(world, market_id)
    assert before != after
    assert after["Yes"] + after["No"] == pytest.approx(1.0, abs=0.002)


async def test_gamma_and_clob_agree_on_the_midpoint(
    world: World, gamma: httpx.AsyncClient, clob: httpx.AsyncClient
) -> None:
    market_id = binary_id(world)
    raw = (await gamma.get(f"/markets/{market_id}")).json()
    yes_price = parse_market(raw).yes_price
    token = token_of(world, market_id, "Yes")
    mid = (await clob.get("/midpoint", params={"token_id": token})).json()
    assert isinstance(mid["mid"], str) and float(mid["mid"]) == yes_price
    batch = (await clob.post("/midpoints", json=[{"token_id": token}])).json()
    assert batch == {token: mid["mid"]}


async def test_book_lists_bids_ascending_and_asks_descending(
    world: World, clob: httpx.AsyncClient
) -> None:
    token = token_of(world, binary_id(world), "Yes")
    book = (await clob.get("/book", params={"token_id": token})).json()
    bids = [float(level["price"]) for level in book["bids"]]
    asks = [float(level["price"]) for level in book["asks"]]
    assert bids == sorted(bids) and asks == sorted(asks, reverse=True)
    assert bids[-1] < asks[-1]  # best bid and best ask are the last elements
    assert isinstance(book["timestamp"], str) and book["asset_id"] == token


async def test_clob_errors_look_like_the_real_ones(clob: httpx.AsyncClient) -> None:
    assert (await clob.get("/midpoint", params={"token_id": "nope"})).status_code == 404
    assert (await clob.get("/book", params={"token_id": "nope"})).status_code == 404
    assert (await clob.get("/midpoint")).status_code == 400
    too_many = [{"token_id": str(i)} for i in range(501)]
    assert (await clob.post("/midpoints", json=too_many)).status_code == 400
    assert (await clob.post("/midpoints", json={"token_id": "x"})).status_code == 400


async def test_resolving_a_market_closes_it_with_decisive_prices(
    world: World, gamma: httpx.AsyncClient, clob: httpx.AsyncClient
) -> None:
    market_id = binary_id(world)
    resolve_market(world, market_id, "No")
    raw = (await gamma.get(f"/markets/{market_id}")).json()
    assert raw["closed"] is True and raw["umaResolutionStatus"] == "resolved"
    assert json.loads(raw["outcomePrices"]) == ["0", "1"]
    assert parse_market(raw).decisive_winner == "NO"
    token = token_of(world, market_id, "No")
    assert (await clob.get("/midpoint", params={"token_id": token})).status_code == 404
    listed = (await gamma.get("/markets", params={"closed": "false", "limit": 500})).json()
    assert market_id not in {m["id"] for m in listed}


async def test_closing_without_a_winner_freezes_prices(world: World, clock: FrozenClock) -> None:
    market_id = binary_id(world)
    close_market(world, market_id)
    frozen = market_prices(world, market_id)
    clock.advance(days=3)
    assert market_prices(world, market_id) == frozen
    market = polymarket_state(world).markets[market_id]
    assert market.closed and market.winner is None


async def test_pinned_prices(world: World) -> None:
    market_id = binary_id(world)
    set_prices(world, market_id, {"Yes": 0.42, "No": 0.58})
    assert market_prices(world, market_id) == {"Yes": 0.42, "No": 0.58}


async def test_injected_failures_answer_n_times_then_recover(
    world: World, gamma: httpx.AsyncClient
) -> None:
    inject_failure(world, "gamma", "/markets", status=503, times=2, retry_after="1")
    first = await gamma.get("/markets")
    assert first.status_code == 503 and first.headers["retry-after"] == "1"
    assert (await gamma.get("/markets")).status_code == 503
    assert (await gamma.get("/markets")).status_code == 200
    inject_failure(world, "gamma", "/markets/*", status=500)
    assert (await gamma.get(f"/markets/{top(world)}")).status_code == 500


async def test_raw_markets_are_served_verbatim(world: World, gamma: httpx.AsyncClient) -> None:
    add_raw_market(world, {"id": "broken", "outcomes": "not json"})
    body = (await gamma.get("/markets", params={"limit": 3})).json()
    assert body[-1] == {"id": "broken", "outcomes": "not json"}


async def test_every_request_is_recorded(world: World, gamma: httpx.AsyncClient) -> None:
    await gamma.get("/markets")
    assert world.calls("gamma", "GET", "/markets") == 1


async def test_world_size_is_configurable_and_seeded(clock: FrozenClock) -> None:
    a = World(clock=clock, seed=3)
    b = World(clock=clock, seed=3)
    configure_markets(a, 1200)
    configure_markets(b, 1200)
    assert len(polymarket_state(a).markets) == 1200
    assert [m.question for m in polymarket_state(a).markets.values()] == [
        m.question for m in polymarket_state(b).markets.values()
    ]
    sandbox = Sandbox(a)
    async with (
        httpx.AsyncClient(base_url="https://g/", transport=sandbox.transports()["gamma"]) as g,
        httpx.AsyncClient(base_url="https://c/", transport=sandbox.transports()["clob"]) as c,
    ):
        found = await PolymarketClient(g, c).gamma.top_markets(1100)
    assert len(found.markets) == 1100 and found.skipped == []


def test_the_world_has_an_openrouter_catalog_for_the_lineup_review(world: World) -> None:
    ids = {m["id"] for m in openrouter_state(world)["catalog"]}
    assert {"openai/gpt-5.5", "openai/gpt-5.6", "openai/gpt-5.7-codex"} <= ids
    multimodal = [
        m
        for m in openrouter_state(world)["catalog"]
        if "image" in m["architecture"]["input_modalities"]
    ]
    assert multimodal
    assert all(isinstance(m["pricing"]["prompt"], str) for m in openrouter_state(world)["catalog"])


def test_markets_close_in_the_future_of_the_world(world: World) -> None:
    now = world.clock.now()
    assert now == datetime(2026, 3, 1, tzinfo=UTC)
    assert all(m.end_date > now for m in polymarket_state(world).markets.values())
