"""The tables each public answer reads (the identity views count as the tables under them). A
cached answer stands while these tables' data versions do, so a list that misses a table would
serve answers older than a write to it: tests/arena/test_answer_reads.py holds every answer's
queries to exactly its list."""

from __future__ import annotations

CATALOG = ("benchmark_config_models", "model_families", "model_releases")

MARKETS = ("agents", "cohorts", "markets", "positions")
MARKET = (*MARKETS, *CATALOG, "brier_scores", "trades")
COHORTS = ("agents", "cohorts", "trades")
COHORT = (
    *CATALOG,
    "agents",
    "brier_scores",
    "cohorts",
    "decisions",
    "markets",
    "portfolio_snapshots",
    "positions",
    "trades",
)
COHORT_MODEL = COHORT
MODEL = (*COHORT, "benchmark_configs")
LEADERBOARD = (
    *CATALOG,
    "agents",
    "benchmark_configs",
    "brier_scores",
    "cohorts",
    "markets",
    "positions",
    "trades",
)
PERFORMANCE = (
    *CATALOG,
    "agents",
    "benchmark_configs",
    "cohorts",
    "decisions",
    "portfolio_snapshots",
)
RECENT_DECISIONS = (*CATALOG, "agents", "cohorts", "decisions")
DECISION = (*RECENT_DECISIONS, "markets", "trades")
