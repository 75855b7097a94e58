"""Public read models: the market list and detail, the cohort page, the model page, one model's
page within a cohort (§12.1.4-§12.1.8) and the admin's benchmark overview. Plain queries over
the anchor's tables and identity views; no writes. JSON follows `arena.wire`; chart points
keep the stored bucket text (`2026-03-01 00:00:00`), as the anchor's performance series do."""

from arenabrain.arena.read_models.benchmark import benchmark_overview
from arenabrain.arena.read_models.cohort_model import get_cohort_model
from arenabrain.arena.read_models.cohorts import get_cohort
from arenabrain.arena.read_models.markets import get_market, get_markets
from arenabrain.arena.read_models.models import get_model

__all__ = [
    "benchmark_overview",
    "get_cohort",
    "get_cohort_model",
    "get_market",
    "get_markets",
    "get_model",
]
