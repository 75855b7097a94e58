"""Scoring forecasts once their markets resolve: pure functions over plain values.

Two families of figures:

- **Continuity with the anchor** (§8.5): the Brier score of a BUY trade's implied confidence,
  `(confidence - won)^2`, where `won` is whether the side bought is the winner. Implied
  confidence is a bet size, not a probability, so this is not a proper score; it is kept so the
  anchor's historical figures stay comparable.
- **Proper scores** of the probability the model states. A bet's `p_yes` is the model's
  probability that the market resolves YES (for a multi-outcome market, that the outcome it buys
  wins). Every forecast is framed as "the side bought wins": probability `p_yes` for YES and
  multi-outcome bets, `1 - p_yes` for NO bets (Brier and log scores are unchanged by taking the
  complement of both forecast and outcome). The **market baseline** is the price the trade
  filled at, which is already the price of the side bought, scored the same way. The **Brier
  skill score** is `1 - Brier(model) / Brier(market)` over the same forecasts: above 0 the model
  beat the market's own prices, below 0 it did worse.

Every aggregate is an `Estimate`: the mean, a 95 % percentile-bootstrap interval and the sample
size. Bootstraps draw `BOOTSTRAP_RESAMPLES` resamples from a generator seeded by the caller
(`seed_for` a stable label), over values sorted first, so the same data always gives the same
interval, whatever order the rows came in."""

from __future__ import annotations

import math
import zlib
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

# Probabilities are clipped to [0.01, 0.99] before the log: a forecast of 0 or 1 that misses
# would score minus infinity and swamp every mean; the clip caps one miss at ln(0.01) = -4.6.
LOG_SCORE_FLOOR = 0.01
BOOTSTRAP_RESAMPLES = 2000
CONFIDENCE = 0.95
# Winners that decide nothing: the market was refunded (cancelled, 50/50) or is undecided.
UNDECIDED_WINNERS = frozenset({"", "CANCELLED", "UNKNOWN"})
# Resamples are drawn in chunks of about this many positions (a few MB at a time).
_CHUNK_ELEMENTS = 250_000

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class Estimate:
    """A mean with its 95 % bootstrap interval and sample size; all None when `n` is 0."""

    value: float | None
    low: float | None
    high: float | None
    n: int


EMPTY = Estimate(None, None, None, 0)


@dataclass(frozen=True)
class Forecast:
    """One resolved forecast: the model's and the market's probability that the side bought
    wins, and whether it did."""

    probability: float
    market: float
    happened: bool


@dataclass(frozen=True)
class ForecastScores:
    """The proper scores of a set of forecasts, each with interval and sample size."""

    brier: Estimate
    log_score: Estimate
    market_brier: Estimate
    market_log_score: Estimate
    brier_skill: Estimate


def seed_for(label: str) -> int:
    """A stable bootstrap seed for an aggregate (the same label always gives the same seed)."""
    return zlib.crc32(label.encode("utf-8"))


def decided(winner: str | None) -> bool:
    """Whether a market's resolution names a winner that forecasts can be scored against."""
    return (winner or "").strip().upper() not in UNDECIDED_WINNERS


def side_won(side: str, winner: str) -> bool:
    """Whether the side bought is the winner (case-insensitive: multi-outcome winners are
    stored upper-case, the side as the outcome's label)."""
    return side.strip().upper() == winner.strip().upper()


def confidence_brier(confidence: float, won: bool) -> float:
    """The anchor's per-trade Brier score of an implied confidence (§8.5)."""
    return (confidence - (1.0 if won else 0.0)) ** 2


def brier(probability: float, happened: bool) -> float:
    """The Brier score of one probability: 0 is perfect, 1 the worst."""
    return (probability - (1.0 if happened else 0.0)) ** 2


def log_score(probability: float, happened: bool) -> float:
    """The natural log of the probability given to what happened, clipped to
    [LOG_SCORE_FLOOR, 1 - LOG_SCORE_FLOOR]: 0 is perfect, higher (closer to 0) is better."""
    clipped = min(max(probability, LOG_SCORE_FLOOR), 1.0 - LOG_SCORE_FLOOR)
    return math.log(clipped if happened else 1.0 - clipped)


def forecast_of_trade(
    side: str, price: float, p_yes: float | None, winner: str | None
) -> Forecast | None:
    """The forecast a BUY trade made, framed as "the side bought wins"; None when it cannot be
    scored (no `p_yes`, a market without a decisive winner, or a value outside [0, 1])."""
    if p_yes is None or winner is None or not decided(winner):
        return None
    if not (0.0 <= p_yes <= 1.0 and 0.0 <= price <= 1.0):
        return None
    probability = 1.0 - p_yes if side.strip().upper() == "NO" else p_yes
    return Forecast(probability=probability, market=price, happened=side_won(side, winner))


def mean_estimate(values: Sequence[float], seed: int) -> Estimate:
    """The mean of `values` with its 95 % percentile-bootstrap interval."""
    if not values:
        return EMPTY
    column = np.sort(np.asarray(values, dtype=np.float64))
    means = _resampled_means(column[np.newaxis, :], seed)[:, 0]
    low, high = _interval(means)
    return Estimate(float(column.mean()), low, high, len(values))


def score_forecasts(forecasts: Sequence[Forecast], seed: int) -> ForecastScores:
    """Brier and log scores of the model and of the market on the same forecasts, and the
    Brier skill score; the intervals come from one paired bootstrap (the same resamples for
    every figure), so the skill score's interval accounts for how model and market move
    together."""
    if not forecasts:
        return ForecastScores(EMPTY, EMPTY, EMPTY, EMPTY, EMPTY)
    ordered = sorted(forecasts, key=lambda f: (f.probability, f.market, f.happened))
    columns = np.array(
        [
            [brier(f.probability, f.happened) for f in ordered],
            [log_score(f.probability, f.happened) for f in ordered],
            [brier(f.market, f.happened) for f in ordered],
            [log_score(f.market, f.happened) for f in ordered],
        ],
        dtype=np.float64,
    )
    n = len(ordered)
    means = columns.mean(axis=1)
    resampled = _resampled_means(columns, seed)
    estimates = [
        Estimate(float(means[i]), *_interval(resampled[:, i]), n) for i in range(len(columns))
    ]
    return ForecastScores(
        brier=estimates[0],
        log_score=estimates[1],
        market_brier=estimates[2],
        market_log_score=estimates[3],
        brier_skill=_skill(means[0], means[2], resampled[:, 0], resampled[:, 2], n),
    )


def _skill(
    model: float, market: float, model_means: FloatArray, market_means: FloatArray, n: int
) -> Estimate:
    """`1 - model / market`; undefined (None) when the market's Brier score is 0. Resamples
    whose market score is 0 are left out of the interval."""
    if market <= 0.0:
        return Estimate(None, None, None, n)
    usable = market_means > 0.0
    skills = 1.0 - model_means[usable] / market_means[usable]
    low, high = _interval(skills)
    return Estimate(1.0 - model / market, low, high, n)


def _resampled_means(columns: FloatArray, seed: int) -> FloatArray:
    """Means of each row of `columns` (k x n) over BOOTSTRAP_RESAMPLES resamples of its n
    positions, the same resamples for every row: an array of resamples x k. Each resample is
    held as how often it drew each position (a row of counts), so its means are one matrix
    product, several times faster than gathering the drawn values."""
    k, n = columns.shape
    rng = np.random.default_rng(seed)
    out = np.empty((BOOTSTRAP_RESAMPLES, k), dtype=np.float64)
    step = max(1, _CHUNK_ELEMENTS // n)
    for start in range(0, BOOTSTRAP_RESAMPLES, step):
        size = min(step, BOOTSTRAP_RESAMPLES - start)
        drawn = rng.integers(0, n, size=(size, n)) + (np.arange(size) * n)[:, np.newaxis]
        counts = np.bincount(drawn.ravel(), minlength=size * n).reshape(size, n)
        out[start : start + size] = counts @ columns.T / n
    return out


def _interval(samples: FloatArray) -> tuple[float | None, float | None]:
    if samples.size == 0:
        return None, None
    tail = (1.0 - CONFIDENCE) / 2
    low, high = np.quantile(samples, [tail, 1.0 - tail])
    return float(low), float(high)
