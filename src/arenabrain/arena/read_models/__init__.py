"""Public read models: the leaderboard and performance chart, the market list and detail, the
cohort list and page, the model page, one model's page within a cohort, the public decisions
(§12.1.2-§12.1.10) and the admin's benchmark overview. Plain queries over
the anchor's tables and identity views; no writes. JSON follows `arena.wire`; chart points
keep the stored bucket text (`2026-03-01 00:00:00`), as the anchor's performance series do."""

from arenabrain.arena.read_models.benchmark import benchmark_overview
from arenabrain.arena.read_models.cohort_model import get_cohort_model
from arenabrain.arena.read_models.cohorts import get_cohort, get_cohorts
from arenabrain.arena.read_models.decisions import get_decision, get_recent_decisions
from arenabrain.arena.read_models.leaderboard import get_leaderboard
from arenabrain.arena.read_models.markets import get_market, get_markets
from arenabrain.arena.read_models.models import get_model
from arenabrain.arena.read_models.performance import get_performance_data

__all__ = [
    "benchmark_overview",
    "get_cohort",
    "get_cohort_model",
    "get_cohorts",
    "get_decision",
    "get_leaderboard",
    "get_market",
    "get_markets",
    "get_model",
    "get_performance_data",
    "get_recent_decisions",
]
