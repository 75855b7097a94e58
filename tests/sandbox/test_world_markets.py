"""The informed market world the demo runs on: hundreds of markets whose prices news moves
toward a hidden outcome, listed over time, some without an order book, deterministic for a
seed; and the default world left as it was."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from arenabrain.clients.polymarket import parse_market
from arenabrain.clock import FrozenClock
from arenabrain.sandbox import Sandbox, World
from arenabrain.sandbox.polymarket import FATES, PolymarketWorld, SimMarket, configure_markets

START = datetime(2026, 3, 1, tzinfo=UTC)


def informed(seed: int = 7, count: int = 300) -> PolymarketWorld:
    world = World(clock=FrozenClock(START), seed=seed)
    return configure_markets(
        world,
        count,
        event_share=0.15,
        informed=True,
        horizon_days=42,
        listing_days=21,
        multi_share=0.3,
        missing_books=0.03,
    )


def fingerprint(state: PolymarketWorld) -> list[tuple[object, ...]]:
    moments = [START + timedelta(days=d, hours=5) for d in (0, 3, 10, 20, 40)]
    return [
        (
            m.id,
            m.question,
            tuple(m.outcomes),
            tuple(m.token_ids),
            m.end_date,
            m.opens_at,
            m.fate,
            m.fate_winner,
            tuple(tuple(m.prices_at(t)) for t in moments),
        )
        for m in state.markets.values()
    ] + [tuple(sorted(state.no_book))]


def test_the_same_seed_makes_the_same_markets_and_price_paths() -> None:
    assert fingerprint(informed(7)) == fingerprint(informed(7))
    assert fingerprint(informed(7)) != fingerprint(informed(8))


def test_options_left_out_leave_the_default_world_as_it_was() -> None:
    plain = World(clock=FrozenClock(START), seed=7)
    state = configure_markets(plain, 200)
    assert all(m.drift == 0 and m.opens_at < START for m in state.markets.values())
    assert not state.no_book
    # The informed world draws the same skeleton (ids, tokens, sizes) from the same sequence.
    other = World(clock=FrozenClock(START), seed=7)
    skeleton = configure_markets(other, 200, informed=True)
    assert [m.token_ids for m in state.markets.values()] == [
        m.token_ids for m in skeleton.markets.values()
    ]


def test_hundreds_of_binary_and_multi_outcome_markets_across_categories() -> None:
    state = informed()
    markets = list(state.markets.values())
    assert len(markets) == 300
    kinds = Counter("multi" if len(m.outcomes) > 2 else "binary" for m in markets)
    assert kinds["binary"] > 150 and kinds["multi"] > 20
    assert len({m.category for m in markets if m.category}) >= 6
    assert len(state.events) > 10
    # Every question is asked once, so a persona can recognise a market by it.
    assert len({m.question for m in markets}) == len(markets)
    assert all(state.market_asking(m.question) is m for m in markets)
    assert Counter(m.fate for m in markets).keys() == {name for name, _ in FATES}
    for market in markets:  # each question fits its outcomes
        yes_no = sorted(market.outcomes) == ["No", "Yes"]
        assert market.question.startswith("Who will win") != yes_no, market


def test_close_dates_spread_so_that_many_markets_end_within_four_weeks() -> None:
    markets = list(informed().markets.values())
    weekly = Counter(min((m.end_date - START).days // 7, 6) for m in markets)
    assert sum(weekly[w] for w in range(4)) > 120
    assert all(weekly[w] > 15 for w in range(4)), weekly
    assert weekly[6] + weekly[5] + weekly[4] > 30  # and some outlive the demo


def winner_price(market: SimMarket, moment: datetime) -> float:
    return market.prices_at(moment)[market.outcomes.index(str(market.fate_winner))]


def test_prices_drift_toward_the_hidden_winner() -> None:
    markets = list(informed().markets.values())
    opening = [winner_price(m, m.opens_at) for m in markets]
    closing = [winner_price(m, m.end_date - timedelta(hours=1)) for m in markets]
    leads_at_close = sum(
        max(m.prices_at(m.end_date - timedelta(hours=1))) == p
        for m, p in zip(markets, closing, strict=True)
    )
    assert sum(closing) / len(closing) > sum(opening) / len(opening) + 0.25
    assert leads_at_close > 0.8 * len(markets)
    # Prices move with noise: no path is a straight line to its winner.
    wiggles = sum(
        winner_price(m, m.opens_at + (m.end_date - m.opens_at) * 0.6)
        < winner_price(m, m.opens_at + (m.end_date - m.opens_at) * 0.5)
        for m in markets
    )
    assert wiggles > 0.15 * len(markets)


def test_prices_are_calibrated_at_every_stage_of_a_markets_life() -> None:
    """Among outcomes priced near p, about p of them win (the market baseline is honest)."""
    buckets: dict[int, list[bool]] = {}
    for seed in (7, 8):
        for market in informed(seed).markets.values():
            for share in (0.0, 0.3, 0.6):
                moment = market.opens_at + (market.end_date - market.opens_at) * share
                for label, price in zip(market.outcomes, market.prices_at(moment), strict=True):
                    buckets.setdefault(int(price * 5), []).append(label == market.fate_winner)
    for bucket, wins in buckets.items():
        if len(wins) < 100:
            continue
        rate = sum(wins) / len(wins)
        assert bucket / 5 - 0.08 < rate < (bucket + 1) / 5 + 0.08, (bucket, rate, len(wins))


@pytest.fixture
async def world(clock: FrozenClock) -> World:
    return World(clock=clock, seed=7)


@pytest.fixture
async def http(world: World) -> AsyncIterator[tuple[httpx.AsyncClient, httpx.AsyncClient]]:
    transports = Sandbox(world).transports()
    async with (
        httpx.AsyncClient(base_url="https://gamma", transport=transports["gamma"]) as gamma,
        httpx.AsyncClient(base_url="https://clob", transport=transports["clob"]) as clob,
    ):
        yield gamma, clob


async def test_late_markets_are_unknown_until_listed(
    world: World, clock: FrozenClock, http: tuple[httpx.AsyncClient, httpx.AsyncClient]
) -> None:
    gamma, clob = http
    clock.set(START)
    state = configure_markets(world, 120, informed=True, horizon_days=28, listing_days=14)
    late = next(m for m in state.markets.values() if m.opens_at > START)
    token = late.token_ids[0]

    listed = (await gamma.get("/markets", params={"closed": "false", "limit": 500})).json()
    assert late.id not in {m["id"] for m in listed}
    assert (await gamma.get(f"/markets/{late.id}")).status_code == 404
    assert (await clob.get("/midpoint", params={"token_id": token})).status_code == 404

    clock.set(late.opens_at)
    listed = (await gamma.get("/markets", params={"closed": "false", "limit": 500})).json()
    assert late.id in {m["id"] for m in listed}
    body = (await gamma.get(f"/markets/{late.id}")).json()
    assert parse_market(body).question == late.question
    assert (await clob.get("/midpoint", params={"token_id": token})).status_code == 200
    assert late.end_date - late.opens_at >= timedelta(days=1.5)


async def test_some_tokens_have_no_order_book(
    world: World, clock: FrozenClock, http: tuple[httpx.AsyncClient, httpx.AsyncClient]
) -> None:
    gamma, clob = http
    clock.set(START)
    state = configure_markets(world, 200, informed=True, missing_books=0.05)
    assert 3 <= len(state.no_book) <= 25
    bookless = sorted(state.no_book)[0]
    market = state.markets[state.tokens[bookless][0]]
    other = next(t for t in market.token_ids if t != bookless)
    asked = [{"token_id": bookless}, {"token_id": other}]
    answer = (await clob.post("/midpoints", json=asked)).json()
    assert bookless not in answer and other in answer
    assert (await clob.get("/book", params={"token_id": bookless})).status_code == 404
    # Gamma still prices the market (the sync keeps it; only the CLOB lacks a book).
    body = (await gamma.get(f"/markets/{market.id}")).json()
    assert len(json.loads(body["outcomePrices"])) == len(market.outcomes)
