"""Scoring (arena/scoring.py): the anchor's implied-confidence Brier, proper Brier and log scores
of `p_yes`, the market baseline, the Brier skill score and the bootstrap intervals, each against
cases worked by hand."""

from __future__ import annotations

import math
import random
from math import comb

import pytest

from arenabrain.arena.scoring import (
    BOOTSTRAP_RESAMPLES,
    EMPTY,
    LOG_SCORE_FLOOR,
    Estimate,
    Forecast,
    brier,
    confidence_brier,
    decided,
    forecast_of_trade,
    log_score,
    mean_estimate,
    score_forecasts,
    seed_for,
    side_won,
)

SEED = seed_for("tests")


@pytest.mark.parametrize(
    ("confidence", "won", "expected"),
    [(0.5, True, 0.25), (0.8, False, 0.64), (1.0, True, 0.0), (0.2, True, 0.64), (0.0, False, 0.0)],
)
def test_confidence_brier_is_the_anchors_per_trade_score(
    confidence: float, won: bool, expected: float
) -> None:
    assert confidence_brier(confidence, won) == pytest.approx(expected)


@pytest.mark.parametrize(
    ("probability", "happened", "expected_brier", "expected_log"),
    [
        (0.7, True, 0.09, math.log(0.7)),
        (0.7, False, 0.49, math.log(0.3)),
        (0.5, True, 0.25, math.log(0.5)),
        (1.0, True, 0.0, math.log(0.99)),  # clipped: never exactly 0
        (1.0, False, 1.0, math.log(0.01)),  # clipped: a sure miss costs ln(0.01), not -inf
        (0.0, False, 0.0, math.log(0.99)),
        (0.005, True, 0.990025, math.log(LOG_SCORE_FLOOR)),
    ],
)
def test_brier_and_clipped_log_score_of_one_forecast(
    probability: float, happened: bool, expected_brier: float, expected_log: float
) -> None:
    assert brier(probability, happened) == pytest.approx(expected_brier)
    assert log_score(probability, happened) == pytest.approx(expected_log)


@pytest.mark.parametrize(
    ("side", "price", "p_yes", "winner", "expected"),
    [
        ("YES", 0.6, 0.7, "YES", Forecast(0.7, 0.6, True)),
        ("YES", 0.6, 0.7, "NO", Forecast(0.7, 0.6, False)),
        # NO: the model gives NO 1 - p_yes; the fill price is already NO's price.
        ("NO", 0.35, 0.2, "NO", Forecast(0.8, 0.35, True)),
        ("NO", 0.35, 0.2, "YES", Forecast(0.8, 0.35, False)),
        ("yes", 0.6, 0.7, "YES", Forecast(0.7, 0.6, True)),  # sides compare case-insensitively
        # multi-outcome: p_yes is the probability that the outcome bought wins
        ("Lakers", 0.4, 0.55, "LAKERS", Forecast(0.55, 0.4, True)),
        ("Lakers", 0.4, 0.55, "CELTICS", Forecast(0.55, 0.4, False)),
        ("YES", 0.6, None, "YES", None),  # no stated probability: nothing to score
        ("YES", 0.6, 0.7, "CANCELLED", None),  # refunded markets have no winner
        ("YES", 0.6, 0.7, "UNKNOWN", None),
        ("YES", 0.6, 0.7, None, None),
        ("YES", 0.6, 1.5, "YES", None),
        ("YES", 1.2, 0.5, "YES", None),
    ],
)
def test_the_forecast_a_trade_made(
    side: str, price: float, p_yes: float | None, winner: str | None, expected: Forecast | None
) -> None:
    found = forecast_of_trade(side, price, p_yes, winner)
    if expected is None:
        assert found is None
    else:
        assert found is not None
        assert (found.probability, found.market, found.happened) == (
            pytest.approx(expected.probability),
            pytest.approx(expected.market),
            expected.happened,
        )


def test_winners_and_decided_markets() -> None:
    assert side_won("Lakers", "LAKERS") and not side_won("NO", "YES")
    assert decided("YES") and decided("LAKERS")
    assert not decided("CANCELLED") and not decided("unknown") and not decided(None)


# Four forecasts worked by hand:
#   model p  market p  happened   model Brier  market Brier  model ln p       market ln p
#   0.8      0.6       yes        0.04         0.16          ln 0.8 = -0.2231 ln 0.6 = -0.5108
#   0.3      0.5       no         0.09         0.25          ln 0.7 = -0.3567 ln 0.5 = -0.6931
#   0.6      0.7       no         0.36         0.49          ln 0.4 = -0.9163 ln 0.3 = -1.2040
#   0.9      0.8       yes        0.01         0.04          ln 0.9 = -0.1054 ln 0.8 = -0.2231
# means: model Brier 0.125, market Brier 0.235, skill 1 - 0.125 / 0.235 = 0.46809,
#        model log -0.40037, market log -0.65777
HAND_WORKED = [
    Forecast(0.8, 0.6, True),
    Forecast(0.3, 0.5, False),
    Forecast(0.6, 0.7, False),
    Forecast(0.9, 0.8, True),
]


def test_scores_of_a_set_of_forecasts_against_the_market() -> None:
    scores = score_forecasts(HAND_WORKED, SEED)
    assert scores.brier.value == pytest.approx(0.125)
    assert scores.market_brier.value == pytest.approx(0.235)
    assert scores.brier_skill.value == pytest.approx(1 - 0.125 / 0.235)
    assert scores.log_score.value == pytest.approx(-0.40037, abs=1e-5)
    assert scores.market_log_score.value == pytest.approx(-0.65777, abs=1e-5)
    for estimate in (
        scores.brier,
        scores.log_score,
        scores.market_brier,
        scores.market_log_score,
        scores.brier_skill,
    ):
        assert estimate.n == 4
        assert estimate.low is not None and estimate.high is not None
        assert estimate.low <= estimate.value <= estimate.high  # type: ignore[operator]
    # The bootstrap's extremes: every resample of the best or of the worst forecast.
    assert scores.brier.low >= 0.01 and scores.brier.high <= 0.36  # type: ignore[operator]


def test_no_forecasts_give_empty_estimates_with_zero_samples() -> None:
    scores = score_forecasts([], SEED)
    assert scores.brier == scores.brier_skill == EMPTY == Estimate(None, None, None, 0)
    assert mean_estimate([], SEED) == EMPTY


def test_skill_is_undefined_when_the_market_was_perfect() -> None:
    scores = score_forecasts([Forecast(0.9, 1.0, True), Forecast(0.4, 0.0, False)], SEED)
    assert scores.market_brier.value == 0.0
    assert scores.brier_skill == Estimate(None, None, None, 2)


def test_one_value_or_equal_values_have_a_point_interval() -> None:
    assert mean_estimate([0.3], SEED) == Estimate(0.3, 0.3, 0.3, 1)
    assert mean_estimate([0.25] * 7, SEED) == Estimate(0.25, 0.25, 0.25, 7)


def test_interval_of_two_values_spans_both() -> None:
    # Resamples of {0, 1} have mean 0, 1/2 or 1 with odds 1/4, 1/2, 1/4: the 2.5 % and 97.5 %
    # points of that distribution are 0 and 1.
    assert mean_estimate([0.0, 1.0], SEED) == Estimate(0.5, 0.0, 1.0, 2)


def binomial_quantile(n: int, p: float, q: float) -> float:
    """The smallest k/n whose binomial cumulative probability reaches q."""
    total = 0.0
    for k in range(n + 1):
        total += comb(n, k) * p**k * (1 - p) ** (n - k)
        if total >= q:
            return k / n
    return 1.0


def test_interval_of_a_rate_matches_the_exact_bootstrap_distribution() -> None:
    # Resampled means of 30 wins in 100 follow Binomial(100, 0.3) / 100 exactly; its 2.5 % and
    # 97.5 % points are 0.21 and 0.39 (worked from the binomial sums).
    values = [1.0] * 30 + [0.0] * 70
    estimate = mean_estimate(values, SEED)
    assert (binomial_quantile(100, 0.3, 0.025), binomial_quantile(100, 0.3, 0.975)) == (0.21, 0.39)
    assert estimate.value == pytest.approx(0.3) and estimate.n == 100
    assert estimate.low == pytest.approx(0.21, abs=0.015)
    assert estimate.high == pytest.approx(0.39, abs=0.015)


def test_intervals_are_reproducible_whatever_the_row_order() -> None:
    rng = random.Random(3)
    forecasts = [Forecast(rng.random(), rng.random(), rng.random() < 0.5) for _ in range(300)]
    first = score_forecasts(forecasts, SEED)
    rng.shuffle(forecasts)
    assert score_forecasts(forecasts, SEED) == first
    values = [rng.random() for _ in range(200)]
    assert mean_estimate(values, SEED) == mean_estimate(list(reversed(values)), SEED)
    assert seed_for("openai-gpt") == seed_for("openai-gpt") != seed_for("google-gemini")


def test_more_forecasts_narrow_the_interval() -> None:
    rng = random.Random(5)
    draw = [rng.random() for _ in range(4000)]
    narrow = mean_estimate(draw, SEED)
    wide = mean_estimate(draw[:40], SEED)
    assert narrow.high - narrow.low < (wide.high - wide.low) / 5  # type: ignore[operator]
    assert BOOTSTRAP_RESAMPLES >= 1000
