"""One price per market side, for trading and for valuing alike (§7.1, §9.2 of the reference).

- A binary market is priced from its YES token alone: YES at that token's CLOB midpoint, NO at
  one minus it. The NO token's own book is never read, so a position is worth what a trade on
  it would fill at (the books of the two tokens need not mirror each other exactly).
- A multi-outcome side is priced at its own token's midpoint (outcome i <-> token i).
- A price is valid when it is a finite number in [0, 1]; a side without one maps to None.

Execution (`decisions.loading.execution_prices`) and valuation (`snapshots`) both call
`fetch_side_prices`, which asks the CLOB in as few batch requests as it can (at most 500 tokens
each). Everything else here is pure."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Any

from arenabrain.arena.execution.fills import ONE, ZERO, dec, is_binary, json_list

SidePrices = dict[tuple[str, str], Decimal | None]


def pricing_tokens(market: Any) -> dict[str, str]:
    """The CLOB token that prices each side of a stored market: `{"YES": token}` for a binary
    market (its NO side is derived), `{label: token}` for the outcomes of a multi-outcome
    market that have a token. Empty when the market has no tokens."""
    tokens = [str(t) for t in json_list(market.clob_token_ids)]
    if is_binary(market):
        return {"YES": tokens[0]} if tokens and tokens[0] else {}
    labels = [str(label) for label in json_list(market.outcomes)]
    return {label: token for label, token in zip(labels, tokens, strict=False) if token}


def market_sides(market: Any) -> list[str]:
    """The sides a stored market trades: `YES`/`NO`, or its outcome labels."""
    if is_binary(market):
        return ["YES", "NO"]
    return [str(label) for label in json_list(market.outcomes)]


def token_ids(markets: Iterable[Any]) -> list[str]:
    """The unique CLOB tokens whose midpoints price these markets' sides."""
    wanted = [token for market in markets for token in pricing_tokens(market).values()]
    return list(dict.fromkeys(wanted))


def valid_price(value: Any) -> Decimal | None:
    """A midpoint as a Decimal when it is a finite number in [0, 1], else None."""
    if value is None or isinstance(value, bool):
        return None
    try:
        price = dec(value)
    except (ArithmeticError, ValueError, TypeError):
        return None
    return price if price.is_finite() and ZERO <= price <= ONE else None


def side_prices(markets: Iterable[Any], midpoints: Mapping[str, Any]) -> SidePrices:
    """Prices per (market id, side) from CLOB midpoints; a side without a valid one is None."""
    prices: SidePrices = {}
    for market in markets:
        tokens = pricing_tokens(market)
        if is_binary(market):
            yes = valid_price(midpoints.get(tokens["YES"])) if "YES" in tokens else None
            prices[(market.id, "YES")] = yes
            prices[(market.id, "NO")] = ONE - yes if yes is not None else None
            continue
        for side in market_sides(market):
            token = tokens.get(side)
            prices[(market.id, side)] = valid_price(midpoints.get(token)) if token else None
    return prices


async def fetch_midpoints(
    ctx: Any, markets: Iterable[Any], *, ask_missing_again: bool = False
) -> dict[str, float]:
    """CLOB midpoints of the tokens that price these markets (`POST /midpoints` in batches of at
    most 500); with `ask_missing_again`, tokens the first answer lacked are asked once more."""
    tokens = token_ids(markets)
    if not tokens:
        return {}
    clob = ctx.clients.polymarket.clob
    midpoints = await clob.midpoints(tokens)
    missing = [t for t in tokens if t not in midpoints]
    if ask_missing_again and missing:
        midpoints = {**midpoints, **await clob.midpoints(missing)}
    return midpoints


async def fetch_side_prices(
    ctx: Any, markets: Iterable[Any], *, ask_missing_again: bool = False
) -> SidePrices:
    """Validated CLOB prices per (market id, side) for stored markets, by the one rule above."""
    chosen = list(markets)
    return side_prices(
        chosen, await fetch_midpoints(ctx, chosen, ask_missing_again=ask_missing_again)
    )
