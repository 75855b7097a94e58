"""Polymarket: the Gamma catalog (`gamma`), CLOB market data (`clob`), the dialect both speak
(`parsing`) and the retrying transport under them (`transport`). The client knows nothing of
the database."""

from arenabrain.clients.polymarket.client import PolymarketClient
from arenabrain.clients.polymarket.clob import BookLevel, ClobClient, OrderBook, parse_book
from arenabrain.clients.polymarket.gamma import (
    GammaClient,
    GammaMarket,
    MalformedMarket,
    Outcome,
    SkippedMarket,
    TopMarkets,
    event_sub_markets,
    parse_market,
    select_top_markets,
)
from arenabrain.clients.polymarket.parsing import parse_close_date, side_label, to_price
from arenabrain.clients.polymarket.transport import PolymarketError

__all__ = [
    "BookLevel",
    "ClobClient",
    "GammaClient",
    "GammaMarket",
    "MalformedMarket",
    "OrderBook",
    "Outcome",
    "PolymarketClient",
    "PolymarketError",
    "SkippedMarket",
    "TopMarkets",
    "event_sub_markets",
    "parse_book",
    "parse_close_date",
    "parse_market",
    "select_top_markets",
    "side_label",
    "to_price",
]
