"""How markets end in the Polymarket emulators: on their own (the world's clock and a fate drawn
from its seed) and through the knobs, with the wire shapes the resolution job reads."""

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
from arenabrain.sandbox.polymarket import (
    FATES,
    configure_markets,
    flag_resolved,
    listed_markets,
    polymarket_state,
    remove_book,
    resolve_by_tokens,
    split_market,
)

START = datetime(2026, 3, 1, tzinfo=UTC)


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


def binary(world: World) -> str:
    return next(m.id for m in listed_markets(world) if m.outcomes == ["Yes", "No"])


def multi(world: World) -> str:
    return next(m.id for m in listed_markets(world) if len(m.outcomes) > 2)


def fates(seed: int) -> dict[str, tuple[str, str | None, timedelta]]:
    world = World(clock=FrozenClock(START), seed=seed)
    state = configure_markets(world, 200)
    return {m.id: (m.fate, m.fate_winner, m.decision_delay) for m in state.markets.values()}


def test_fates_are_deterministic_for_a_seed_and_cover_every_ending() -> None:
    first, again, other = fates(7), fates(7), fates(8)
    assert first == again
    assert first != other
    counts = Counter(fate for fate, _, _ in fates(7).values()) + Counter(
        fate for fate, _, _ in fates(11).values()
    )
    assert set(counts) == {name for name, _ in FATES}


async def test_a_market_closes_at_its_end_date_then_polymarket_decides_it(
    sandbox: Sandbox, clock: FrozenClock, gamma: httpx.AsyncClient, clob: httpx.AsyncClient
) -> None:
    world = sandbox.world
    state = polymarket_state(world)
    market = next(m for m in state.markets.values() if m.fate == "winner" and m.listed)
    token = market.token_ids[0]
    open_body = (await gamma.get(f"/markets/{market.id}")).json()
    assert open_body["closed"] is False and open_body["umaResolutionStatus"] is None
    assert (await clob.get("/midpoint", params={"token_id": token})).status_code == 200

    clock.set(market.end_date + timedelta(minutes=1))
    closing = (await gamma.get(f"/markets/{market.id}")).json()
    assert closing["closed"] is True and closing["umaResolutionStatus"] == "proposed"
    assert (
        closing["outcomePrices"]
        == (await gamma.get(f"/markets/{market.id}")).json()["outcomePrices"]
    )
    assert (await clob.get("/midpoint", params={"token_id": token})).status_code == 404
    assert token not in (await clob.post("/midpoints", json=[{"token_id": token}])).json()
    assert parse_market(closing).decisive_winner is None

    clock.set(market.end_date + market.decision_delay)
    decided = (await gamma.get(f"/markets/{market.id}")).json()
    assert decided["umaResolutionStatus"] == "resolved"
    parsed = parse_market(decided)
    winner = market.fate_winner
    assert winner is not None
    expected = winner.upper() if parsed.is_binary else winner
    assert parsed.decisive_winner == expected
    listed = (await gamma.get("/markets", params={"closed": "false", "limit": 500})).json()
    assert market.id not in {m["id"] for m in listed}


async def test_delisted_markets_answer_404_once_decided(
    sandbox: Sandbox, clock: FrozenClock, gamma: httpx.AsyncClient
) -> None:
    state = configure_markets(sandbox.world, 300)
    market = next(m for m in state.markets.values() if m.fate == "delisted")
    clock.set(market.end_date + timedelta(minutes=1))
    assert (await gamma.get(f"/markets/{market.id}")).status_code == 200
    clock.set(market.end_date + market.decision_delay)
    assert (await gamma.get(f"/markets/{market.id}")).status_code == 404


async def test_winner_named_only_by_the_legacy_token_flag(
    sandbox: Sandbox, gamma: httpx.AsyncClient
) -> None:
    market_id = binary(sandbox.world)
    resolve_by_tokens(sandbox.world, market_id, "No")
    body = (await gamma.get(f"/markets/{market_id}")).json()
    assert body["closed"] is True and body["umaResolutionStatus"] == "resolved"
    assert [t.get("winner") for t in body["tokens"]] == [None, True]
    prices = [float(p) for p in json.loads(body["outcomePrices"])]
    assert max(prices) < 0.99  # the prices alone decide nothing
    assert parse_market(body).flagged_winner == "No"


@pytest.mark.parametrize("kind", ["binary", "multi"])
async def test_split_resolution_prices_every_outcome_equally(
    sandbox: Sandbox, gamma: httpx.AsyncClient, kind: str
) -> None:
    market_id = binary(sandbox.world) if kind == "binary" else multi(sandbox.world)
    split_market(sandbox.world, market_id)
    body = (await gamma.get(f"/markets/{market_id}")).json()
    prices = {float(p) for p in json.loads(body["outcomePrices"])}
    assert len(prices) == 1 and body["umaResolutionStatus"] == "resolved" and body["closed"]


async def test_flagged_resolved_without_a_winner(
    sandbox: Sandbox, gamma: httpx.AsyncClient
) -> None:
    market_id = binary(sandbox.world)
    flag_resolved(sandbox.world, market_id)
    body = (await gamma.get(f"/markets/{market_id}")).json()
    parsed = parse_market(body)
    assert body["resolved"] is True and parsed.resolved is True
    assert parsed.decisive_winner is None and parsed.flagged_winner is None


async def test_a_removed_book_has_no_midpoint(sandbox: Sandbox, clob: httpx.AsyncClient) -> None:
    market_id = binary(sandbox.world)
    market = polymarket_state(sandbox.world).markets[market_id]
    remove_book(sandbox.world, market_id, "Yes")
    yes, no = market.token_ids
    answer = (await clob.post("/midpoints", json=[{"token_id": yes}, {"token_id": no}])).json()
    assert yes not in answer and no in answer
    assert (await clob.get("/book", params={"token_id": yes})).status_code == 404
