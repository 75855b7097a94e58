"""The arena schema: the migration builds exactly what the models declare, the runbook's SQL
runs against it with `sqlite3`, the catalog is seeded once, and the database itself guards
lineage and uniqueness."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic import command
from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from arenabrain.arena.models import (
    Agent,
    ApiCost,
    BenchmarkConfigModel,
    Cohort,
    Decision,
    Market,
    ModelFamily,
    PortfolioSnapshot,
    Position,
)
from arenabrain.arena.seed import DEFAULT_CONFIG_ID, FAMILIES, seed_catalog
from arenabrain.db.base import Base
from arenabrain.db.migrate import alembic_config, upgrade
from tests.arena.postgres import schema_url, server_url, throwaway_schemas

ARENA_REVISION = "0002_arena"

ARENA_TABLES = {
    "methodology_versions",
    "cohorts",
    "models",
    "model_families",
    "model_releases",
    "benchmark_configs",
    "benchmark_config_models",
    "agents",
    "markets",
    "positions",
    "decisions",
    "trades",
    "portfolio_snapshots",
    "market_price_snapshots",
    "brier_scores",
    "api_costs",
    "system_logs",
    "model_lineup_reviews",
    "performance_chart_cache",
}
ARENA_VIEWS = {"agent_benchmark_identity_v", "decision_benchmark_identity_v"}
ARENA_TRIGGERS = {
    f"{guard}_{event}"
    for guard in (
        "cohorts_require_benchmark_config",
        "agents_require_frozen_lineage",
        "benchmark_config_models_release_family_guard",
        "decisions_agent_cohort_guard",
        "trades_relationship_guard",
    )
    for event in ("insert", "update")
}
CATALOG_TABLES = (
    "methodology_versions",
    "models",
    "model_families",
    "model_releases",
    "benchmark_configs",
    "benchmark_config_models",
)

# Copied verbatim from the arena runbook, sections 4.3, 4.4, 5.2-5.5 and 7.1-7.5.
RUNBOOK_SQL = [
    (
        "4.3 recent errors",
        """\
  SELECT severity, event_type, created_at
  FROM system_logs
  WHERE severity = 'error'
  ORDER BY created_at DESC
  LIMIT 50;""",
    ),
    (
        "4.4 market freshness",
        """\
  SELECT MAX(last_updated_at) AS last_market_update,
         COUNT(*) AS total_markets
  FROM markets;""",
    ),
    (
        "5.2 cohort existence",
        """\
  SELECT id, cohort_number, started_at, status
  FROM cohorts
  ORDER BY started_at DESC
  LIMIT 3;""",
    ),
    (
        "5.3 decision coverage",
        """\
  SELECT cohort_id, decision_week, COUNT(*) AS decisions
  FROM decisions
  WHERE decision_timestamp > datetime('now', '-24 hours')
  GROUP BY cohort_id, decision_week
  ORDER BY decision_timestamp DESC;""",
    ),
    (
        "5.4 trades recorded",
        """\
  SELECT d.id, d.action, COUNT(t.id) AS trades
  FROM decisions d
  LEFT JOIN trades t ON t.decision_id = d.id
  WHERE d.decision_timestamp > datetime('now', '-24 hours')
  GROUP BY d.id, d.action
  ORDER BY d.decision_timestamp DESC;""",
    ),
    (
        "5.5 snapshot freshness",
        """\
  SELECT MAX(snapshot_timestamp) AS latest_snapshot,
         COUNT(*) AS snapshots_last_hour
  FROM portfolio_snapshots
  WHERE snapshot_timestamp > datetime('now', '-1 hour');""",
    ),
    (
        "7.1 decisions in progress",
        """\
SELECT id, agent_id, cohort_id, decision_week, decision_timestamp
FROM decisions
WHERE action = 'ERROR'
  AND error_message = '__IN_PROGRESS__'
ORDER BY decision_timestamp DESC;""",
    ),
    (
        "7.2 duplicate decisions",
        """\
SELECT agent_id, cohort_id, decision_week, COUNT(*) AS cnt
FROM decisions
GROUP BY agent_id, cohort_id, decision_week
HAVING COUNT(*) > 1;""",
    ),
    (
        "7.2 duplicate cohorts",
        """\
SELECT started_at, COUNT(*) AS cnt
FROM cohorts
GROUP BY started_at
HAVING COUNT(*) > 1;""",
    ),
    (
        "7.3 cohorts without config",
        """\
SELECT id, cohort_number
FROM cohorts
WHERE benchmark_config_id IS NULL
ORDER BY cohort_number DESC;""",
    ),
    (
        "7.3 agents without lineage",
        """\
SELECT id, cohort_id, model_id, family_id, release_id, benchmark_config_model_id
FROM agents
WHERE family_id IS NULL
   OR release_id IS NULL
   OR benchmark_config_model_id IS NULL
ORDER BY created_at DESC;""",
    ),
    (
        "7.4 markets stuck closed",
        """\
SELECT id, polymarket_id, question, close_date, last_updated_at
FROM markets
WHERE status = 'closed'
ORDER BY close_date DESC
LIMIT 50;""",
    ),
    (
        "7.5 open positions on closed markets",
        """\
SELECT p.id, p.agent_id, p.market_id, p.side, p.status, m.status AS market_status
FROM positions p
JOIN markets m ON p.market_id = m.id
WHERE p.status = 'open'
  AND m.status IN ('closed', 'resolved')
ORDER BY m.status, p.opened_at DESC;""",
    ),
]

WEEK_1 = datetime(2026, 3, 1, tzinfo=UTC)
WEEK_2 = datetime(2026, 3, 8, tzinfo=UTC)


# --- fixtures -----------------------------------------------------------------------------


def sqlite_engine(path: Path) -> Engine:
    engine = sa.create_engine(f"sqlite:///{path}")

    @event.listens_for(engine, "connect")
    def _foreign_keys(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.execute("PRAGMA foreign_keys=ON")

    return engine


@pytest.fixture(scope="module")
def migrated_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One database migrated to the arena revision; tests work on copies of it."""
    path = tmp_path_factory.mktemp("arena") / "template.db"
    upgrade(f"sqlite:///{path}", ARENA_REVISION)
    return path


@pytest.fixture
def db_file(migrated_template: Path, tmp_path: Path) -> Path:
    path = tmp_path / "arena.db"
    shutil.copy(migrated_template, path)
    return path


@pytest.fixture
def engine(db_file: Path) -> Iterator[Engine]:
    engine = sqlite_engine(db_file)
    yield engine
    engine.dispose()


@pytest.fixture
def world(engine: Engine) -> dict[str, Any]:
    """Two weekly cohorts with the seeded lineup's seven agents each, and one market."""
    with Session(engine) as session, session.begin():
        first = start_cohort(session, 1, WEEK_1)
        second = start_cohort(session, 2, WEEK_2)
        session.add(market("market-1"))
    return {"cohort_1": first, "cohort_2": second}


def start_cohort(session: Session, number: int, started_at: datetime) -> list[str]:
    """A cohort pinned to the default config and its agents, the way the arena creates them."""
    cohort_id = f"cohort-{number}"
    session.add(
        Cohort(
            id=cohort_id,
            cohort_number=number,
            started_at=started_at,
            methodology_version="v2",
            benchmark_config_id=DEFAULT_CONFIG_ID,
            created_at=started_at,
        )
    )
    session.flush()
    legacy_ids = {f.id: f.legacy_model_id for f in session.scalars(sa.select(ModelFamily))}
    slots = session.scalars(
        sa.select(BenchmarkConfigModel)
        .where(BenchmarkConfigModel.benchmark_config_id == DEFAULT_CONFIG_ID)
        .order_by(BenchmarkConfigModel.slot_order)
    ).all()
    agent_ids = []
    for slot in slots:
        agent_id = f"{cohort_id}--{slot.family_id}"
        session.add(
            Agent(
                id=agent_id,
                cohort_id=cohort_id,
                model_id=legacy_ids[slot.family_id] or slot.family_id,
                family_id=slot.family_id,
                release_id=slot.release_id,
                benchmark_config_model_id=slot.id,
                created_at=started_at,
            )
        )
        agent_ids.append(agent_id)
    session.flush()
    return agent_ids


def market(market_id: str) -> Market:
    return Market(
        id=market_id,
        polymarket_id=f"pm-{market_id}",
        question="Will it rain in Lisbon on Friday?",
        close_date=datetime(2026, 3, 20, tzinfo=UTC),
        first_seen_at=WEEK_1,
        last_updated_at=WEEK_1,
    )


def decision(decision_id: str, agent_id: str, cohort_id: str, **fields: Any) -> Decision:
    values: dict[str, Any] = {
        "decision_week": 1,
        "decision_timestamp": WEEK_1,
        "prompt_system": "system",
        "prompt_user": "user",
        "action": "HOLD",
        "created_at": WEEK_1,
    }
    values.update(fields)
    return Decision(id=decision_id, agent_id=agent_id, cohort_id=cohort_id, **values)


def open_position(position_id: str, agent_id: str, side: str = "YES") -> Position:
    return Position(
        id=position_id,
        agent_id=agent_id,
        market_id="market-1",
        side=side,
        shares=100.0,
        avg_entry_price=0.5,
        total_cost=50.0,
        opened_at=WEEK_1,
    )


def run_sqlite3(path: Path, sql: str) -> subprocess.CompletedProcess[str]:
    if shutil.which("sqlite3") is None:
        pytest.skip("the sqlite3 command-line tool is not installed")
    return subprocess.run(
        ["sqlite3", str(path), sql], capture_output=True, text=True, timeout=30, check=False
    )


def catalog_rows(connection: Connection) -> dict[str, list[tuple[Any, ...]]]:
    return {
        table: [
            tuple(row)
            for row in connection.execute(sa.text(f"SELECT * FROM {table} ORDER BY 1")).all()
        ]
        for table in CATALOG_TABLES
    }


def schema_signature(connection: Connection) -> dict[str, dict[str, Any]]:
    """Everything about the arena tables that the migration and the models must agree on."""
    inspector = sa.inspect(connection)
    signature: dict[str, dict[str, Any]] = {}
    for table in sorted(ARENA_TABLES):
        primary_key = inspector.get_pk_constraint(table)
        signature[table] = {
            "columns": [
                (c["name"], str(c["type"]), c["nullable"], c["default"])
                for c in inspector.get_columns(table)
            ],
            "primary_key": (primary_key["name"], primary_key["constrained_columns"]),
            "foreign_keys": sorted(
                (
                    fk["name"],
                    fk["constrained_columns"],
                    fk["referred_table"],
                    fk["referred_columns"],
                )
                for fk in inspector.get_foreign_keys(table)
            ),
            "unique": sorted(
                (u["name"], u["column_names"]) for u in inspector.get_unique_constraints(table)
            ),
            "checks": sorted(
                (c["name"], c["sqltext"]) for c in inspector.get_check_constraints(table)
            ),
            "indexes": index_definitions(connection, table),
        }
    return signature


def index_definitions(connection: Connection, table: str) -> list[tuple[str, str]]:
    if connection.dialect.name == "sqlite":
        query = (
            "SELECT name, sql FROM sqlite_master"
            " WHERE type = 'index' AND tbl_name = :table AND sql IS NOT NULL"
        )
        rows = connection.execute(sa.text(query), {"table": table}).all()
        return sorted((name, " ".join(sql.split())) for name, sql in rows)
    query = (
        "SELECT indexname, indexdef FROM pg_indexes"
        " WHERE schemaname = current_schema() AND tablename = :table"
    )
    schema = connection.execute(sa.text("SELECT current_schema()")).scalar_one()
    rows = connection.execute(sa.text(query), {"table": table}).all()
    return sorted((name, sql.replace(f"{schema}.", "")) for name, sql in rows)


# --- the migration ------------------------------------------------------------------------


def test_upgrade_from_empty_creates_every_arena_table(tmp_path: Path) -> None:
    path = tmp_path / "x.db"
    upgrade(f"sqlite:///{path}", "heads")

    engine = sqlite_engine(path)
    with engine.connect() as connection:
        inspector = sa.inspect(connection)
        assert set(inspector.get_table_names()) >= ARENA_TABLES
        assert "schema_migrations" not in inspector.get_table_names()
        assert set(inspector.get_view_names()) >= ARENA_VIEWS
        triggers = connection.execute(
            sa.text("SELECT name FROM sqlite_master WHERE type = 'trigger'")
        ).scalars()
        assert set(triggers) >= ARENA_TRIGGERS
    engine.dispose()


def test_migration_builds_exactly_what_the_models_declare(engine: Engine, tmp_path: Path) -> None:
    declared = sqlite_engine(tmp_path / "declared.db")
    arena = [Base.metadata.tables[name] for name in sorted(ARENA_TABLES)]
    with declared.begin() as connection:
        Base.metadata.create_all(connection, tables=arena)

    with engine.connect() as migrated, declared.connect() as from_models:
        assert schema_signature(migrated) == schema_signature(from_models)
    declared.dispose()


def test_downgrade_removes_the_arena_and_upgrade_restores_it(db_file: Path) -> None:
    url = f"sqlite:///{db_file}"
    command.downgrade(alembic_config(url), "0001_service")

    engine = sqlite_engine(db_file)
    with engine.connect() as connection:
        leftovers = connection.execute(
            sa.text("SELECT type, name FROM sqlite_master WHERE name NOT LIKE 'sqlite_%'")
        ).all()
    assert {name for _, name in leftovers} <= {"scheduler_leases", "alembic_version"}

    upgrade(url, ARENA_REVISION)
    with engine.connect() as connection:
        assert connection.execute(sa.text("SELECT COUNT(*) FROM model_families")).scalar() == 7
    engine.dispose()


def test_timestamps_are_stored_as_sqlite_text(engine: Engine, world: dict[str, Any]) -> None:
    with engine.connect() as connection:
        started_at = connection.execute(
            sa.text("SELECT started_at FROM cohorts WHERE id = 'cohort-1'")
        ).scalar_one()
        seeded_at = connection.execute(
            sa.text("SELECT created_at FROM model_families LIMIT 1")
        ).scalar_one()
    assert started_at == "2026-03-01 00:00:00"
    assert datetime.strptime(seeded_at, "%Y-%m-%d %H:%M:%S")


# --- the runbook's SQL --------------------------------------------------------------------


@pytest.mark.parametrize("sql", [sql for _, sql in RUNBOOK_SQL], ids=[n for n, _ in RUNBOOK_SQL])
def test_runbook_sql_runs_with_sqlite3(db_file: Path, sql: str) -> None:
    result = run_sqlite3(db_file, sql)
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""


@pytest.mark.parametrize(
    "name", ["7.2 duplicate decisions", "7.2 duplicate cohorts", "7.3 cohorts without config"]
)
def test_runbook_sanity_checks_find_nothing_on_a_healthy_database(
    db_file: Path, world: dict[str, Any], name: str
) -> None:
    result = run_sqlite3(db_file, dict(RUNBOOK_SQL)[name])
    assert (result.returncode, result.stdout, result.stderr) == (0, "", "")


def test_runbook_time_windows_count_only_recent_rows(
    engine: Engine, db_file: Path, world: dict[str, Any]
) -> None:
    now = datetime.now(UTC)
    recent, old = world["cohort_1"][0], world["cohort_1"][1]
    with Session(engine) as session, session.begin():
        session.add(
            decision("recent", recent, "cohort-1", decision_timestamp=now - timedelta(hours=1))
        )
        session.add(decision("old", old, "cohort-1", decision_timestamp=now - timedelta(hours=30)))
        for agent_id, age in ((recent, timedelta(minutes=10)), (old, timedelta(hours=2))):
            session.add(
                PortfolioSnapshot(
                    id=f"snapshot-{agent_id}",
                    agent_id=agent_id,
                    snapshot_timestamp=now - age,
                    cash_balance=10000.0,
                    positions_value=0.0,
                    total_value=10000.0,
                    total_pnl=0.0,
                    total_pnl_percent=0.0,
                    created_at=now - age,
                )
            )

    coverage = run_sqlite3(db_file, dict(RUNBOOK_SQL)["5.3 decision coverage"])
    assert coverage.stdout.splitlines() == ["cohort-1|1|1"]
    freshness = run_sqlite3(db_file, dict(RUNBOOK_SQL)["5.5 snapshot freshness"])
    assert freshness.stdout.strip().endswith("|1")


# --- the seeded catalog -------------------------------------------------------------------


def rows(connection: Connection, sql: str) -> list[Any]:
    return list(connection.execute(sa.text(sql)).all())


def test_catalog_is_seeded(engine: Engine) -> None:
    with engine.connect() as connection:
        versions = rows(connection, "SELECT version FROM methodology_versions ORDER BY version")
        families = rows(connection, "SELECT * FROM model_families")
        legacy = rows(
            connection,
            "SELECT m.id FROM model_families f JOIN models m ON m.id = f.legacy_model_id",
        )
        releases = {r.id: r for r in rows(connection, "SELECT * FROM model_releases")}
        configs = rows(
            connection, "SELECT * FROM benchmark_configs WHERE is_default_for_future_cohorts = 1"
        )
        slots = rows(
            connection,
            "SELECT s.*, f.sort_order FROM benchmark_config_models s"
            " JOIN model_families f ON f.id = s.family_id ORDER BY s.slot_order",
        )

    assert [v for (v,) in versions] == ["v1", "v2"]
    assert sorted(f.sort_order for f in families) == list(range(1, 8))
    assert all(f.id == f.slug and f.status == "active" for f in families)
    assert len(legacy) == 7
    assert set(releases) == {f"{f.id}--{f.release_slug}" for f in FAMILIES}
    metadata = json.loads(releases["deepseek-v3--deepseek-v4-pro"].metadata_json)
    assert metadata["created_via"] == "migration:012_latest_model_lineup"
    assert metadata["default_input_price_per_million"] == 0.435

    assert [(c.id, c.methodology_version) for c in configs] == [(DEFAULT_CONFIG_ID, "v2")]
    assert len(slots) == 7
    for slot in slots:
        release = releases[slot.release_id]
        prices = json.loads(release.metadata_json)
        assert slot.id == f"{DEFAULT_CONFIG_ID}--{slot.family_id}"
        assert slot.slot_order == slot.sort_order
        assert slot.openrouter_id_snapshot == release.openrouter_id
        assert slot.input_price_per_million_snapshot == prices["default_input_price_per_million"]
        assert slot.output_price_per_million_snapshot == prices["default_output_price_per_million"]


def test_seeding_again_changes_nothing(engine: Engine) -> None:
    with engine.begin() as connection:
        before = catalog_rows(connection)
        seed_catalog(connection)
        assert catalog_rows(connection) == before


def test_seeding_restores_methodology_texts_but_not_admin_choices(engine: Engine) -> None:
    with engine.begin() as connection:
        connection.execute(sa.text("UPDATE methodology_versions SET title = 'edited'"))
        connection.execute(
            sa.text("UPDATE model_families SET status = 'paused' WHERE id = 'xai-grok'")
        )
        seed_catalog(connection)
        titles = {title for (title,) in rows(connection, "SELECT title FROM methodology_versions")}
        statuses = rows(connection, "SELECT status FROM model_families WHERE id = 'xai-grok'")
    assert "edited" not in titles
    assert statuses == [("paused",)]


# --- triggers -----------------------------------------------------------------------------

GPT_AGENT = "cohort-1--openai-gpt"

GUARD_CASES = [
    pytest.param(
        "INSERT INTO cohorts (id, cohort_number, started_at) VALUES ('c9', 9, '2026-05-03 00:00:00')",
        "cohorts.benchmark_config_id is required",
        id="cohort-insert-without-config",
    ),
    pytest.param(
        "UPDATE cohorts SET benchmark_config_id = NULL WHERE id = 'cohort-1'",
        "cohorts.benchmark_config_id is required",
        id="cohort-update-clears-config",
    ),
    pytest.param(
        "INSERT INTO agents (id, cohort_id, model_id, family_id, release_id,"
        " benchmark_config_model_id) VALUES ('a9', 'cohort-1', 'grok-4', 'xai-grok', NULL,"
        " 'lineup-2026-05-latest-exact--xai-grok')",
        "agents frozen lineage is required",
        id="agent-without-release",
    ),
    pytest.param(
        "INSERT INTO benchmark_config_models (id, benchmark_config_id, family_id, release_id,"
        " slot_order, family_display_name_snapshot, short_display_name_snapshot,"
        " release_display_name_snapshot, provider_snapshot, openrouter_id_snapshot,"
        " input_price_per_million_snapshot, output_price_per_million_snapshot)"
        " VALUES ('s9', 'lineup-2026-05-latest-exact', 'xai-grok', 'openai-gpt--gpt-5.5', 9,"
        " 'Grok', 'Grok', 'GPT-5.5', 'xAI', 'openai/gpt-5.5', 1, 1)",
        "benchmark config release/family mismatch",
        id="slot-release-from-another-family",
    ),
    pytest.param(
        "INSERT INTO decisions (id, agent_id, cohort_id, decision_week, decision_timestamp,"
        " prompt_system, prompt_user, action) VALUES ('d9', 'cohort-1--xai-grok', 'cohort-2',"
        " 1, '2026-03-01 00:05:00', 's', 'u', 'HOLD')",
        "decision agent/cohort mismatch",
        id="decision-agent-from-another-cohort",
    ),
    pytest.param(
        "UPDATE decisions SET cohort_id = 'cohort-2' WHERE id = 'decision-1'",
        "decision agent/cohort mismatch",
        id="decision-moved-to-another-cohort",
    ),
    pytest.param(
        "INSERT INTO trades (id, agent_id, market_id, position_id, trade_type, side, shares,"
        " price, total_amount) VALUES ('t9', 'cohort-1--openai-gpt', 'market-1', 'position-1',"
        " 'BUY', 'NO', 10, 0.5, 5)",
        "trade relationship mismatch",
        id="trade-side-differs-from-position",
    ),
    pytest.param(
        "INSERT INTO trades (id, agent_id, market_id, decision_id, trade_type, side, shares,"
        " price, total_amount) VALUES ('t9', 'cohort-1--xai-grok', 'market-1', 'decision-1',"
        " 'BUY', 'YES', 10, 0.5, 5)",
        "trade relationship mismatch",
        id="trade-decision-of-another-agent",
    ),
    pytest.param(
        "INSERT INTO trades (id, agent_id, market_id, family_id, release_id, trade_type, side,"
        " shares, price, total_amount) VALUES ('t9', 'cohort-1--openai-gpt', 'market-1',"
        " 'xai-grok', 'openai-gpt--gpt-5.5', 'BUY', 'YES', 10, 0.5, 5)",
        "trade relationship mismatch",
        id="trade-release-outside-family",
    ),
    pytest.param(
        "UPDATE trades SET side = 'NO' WHERE id = 'trade-1'",
        "trade relationship mismatch",
        id="trade-update-breaks-position-link",
    ),
]


def add_consistent_trade(engine: Engine) -> None:
    """decision-1, position-1 and trade-1 of the GPT agent of cohort 1, all consistent."""
    with engine.begin() as connection:
        connection.execute(
            sa.text(
                "INSERT INTO decisions (id, agent_id, cohort_id, decision_week,"
                " decision_timestamp, prompt_system, prompt_user, action) VALUES ('decision-1',"
                " :agent, 'cohort-1', 1, '2026-03-01 00:05:00', 's', 'u', 'BET')"
            ),
            {"agent": GPT_AGENT},
        )
        connection.execute(
            sa.text(
                "INSERT INTO positions (id, agent_id, market_id, side, shares, avg_entry_price,"
                " total_cost) VALUES ('position-1', :agent, 'market-1', 'YES', 10, 0.5, 5)"
            ),
            {"agent": GPT_AGENT},
        )
        connection.execute(
            sa.text(
                "INSERT INTO trades (id, agent_id, market_id, position_id, decision_id,"
                " family_id, release_id, benchmark_config_model_id, trade_type, side, shares,"
                " price, total_amount, p_yes) VALUES ('trade-1', :agent, 'market-1',"
                " 'position-1', 'decision-1', 'openai-gpt', 'openai-gpt--gpt-5.5',"
                " 'lineup-2026-05-latest-exact--openai-gpt', 'BUY', 'YES', 10, 0.5, 5, 0.62)"
            ),
            {"agent": GPT_AGENT},
        )


def assert_rejected(engine: Engine, sql: str, message: str) -> None:
    with pytest.raises(IntegrityError, match=re.escape(message)), engine.begin() as connection:
        connection.execute(sa.text(sql))


@pytest.mark.parametrize(("sql", "message"), GUARD_CASES)
def test_lineage_guard_rejects_inconsistent_write(
    engine: Engine, world: dict[str, Any], sql: str, message: str
) -> None:
    add_consistent_trade(engine)
    assert_rejected(engine, sql, message)


def test_identity_views_describe_agents_and_decisions(
    engine: Engine, world: dict[str, Any]
) -> None:
    agent_id = world["cohort_1"][3]
    with Session(engine) as session, session.begin():
        session.add(decision("decision-1", agent_id, "cohort-1"))
    with engine.connect() as connection:
        agent = connection.execute(
            sa.text("SELECT * FROM agent_benchmark_identity_v WHERE agent_id = :id"),
            {"id": agent_id},
        ).one()
        chosen = connection.execute(
            sa.text("SELECT * FROM decision_benchmark_identity_v WHERE decision_id = 'decision-1'")
        ).one()
    assert (agent.family_slug, agent.openrouter_id) == (
        "anthropic-claude-opus",
        "anthropic/claude-opus-4.7",
    )
    # The decision carries no lineage of its own, so the agent's identity fills it in.
    assert (chosen.family_id, chosen.release_slug, chosen.provider, chosen.legacy_model_id) == (
        "anthropic-claude-opus",
        "claude-opus-4.7",
        "Anthropic",
        "claude-opus-4.5",
    )


# --- uniqueness ---------------------------------------------------------------------------


def assert_positions_reopen_only_after_close(engine: Engine, agent_id: str) -> None:
    with Session(engine) as session, session.begin():
        session.add(open_position("p1", agent_id))
        session.add(open_position("p1-no", agent_id, side="NO"))

    with pytest.raises(IntegrityError), Session(engine) as session, session.begin():
        session.add(open_position("p2", agent_id))

    with Session(engine) as session, session.begin():
        session.get_one(Position, "p1").status = "closed"
    with Session(engine) as session, session.begin():
        session.add(open_position("p2", agent_id))

    with pytest.raises(IntegrityError), Session(engine) as session, session.begin():
        session.add(open_position("p3", agent_id))


def test_a_position_can_reopen_once_the_previous_one_is_closed(
    engine: Engine, world: dict[str, Any]
) -> None:
    assert_positions_reopen_only_after_close(engine, GPT_AGENT)


def test_one_decision_per_agent_cohort_and_week(engine: Engine, world: dict[str, Any]) -> None:
    with Session(engine) as session, session.begin():
        session.add(decision("d1", GPT_AGENT, "cohort-1", decision_week=1))
        session.add(decision("d2", GPT_AGENT, "cohort-1", decision_week=2))

    with pytest.raises(IntegrityError, match="UNIQUE"), Session(engine) as session, session.begin():
        session.add(decision("d3", GPT_AGENT, "cohort-1", decision_week=1))


def test_one_cohort_per_week_start(engine: Engine, world: dict[str, Any]) -> None:
    again = Cohort(
        id="cohort-again", cohort_number=3, started_at=WEEK_1, benchmark_config_id=DEFAULT_CONFIG_ID
    )
    with pytest.raises(IntegrityError, match=r"cohorts\.started_at"), Session(engine) as session:
        session.add(again)
        session.commit()


def test_one_api_cost_per_decision_but_any_number_without_one(
    engine: Engine, world: dict[str, Any]
) -> None:
    def cost(cost_id: str, decision_id: str | None) -> ApiCost:
        return ApiCost(id=cost_id, model_id="gpt-5.1", agent_id=GPT_AGENT, decision_id=decision_id)

    with Session(engine) as session, session.begin():
        session.add(decision("d1", GPT_AGENT, "cohort-1"))
        session.flush()
        session.add_all([cost("c1", None), cost("c2", None), cost("c3", "d1")])

    with pytest.raises(IntegrityError), Session(engine) as session, session.begin():
        session.add(cost("c4", "d1"))


# --- PostgreSQL ---------------------------------------------------------------------------


@pytest.fixture
def postgres_schema() -> Iterator[Any]:
    """A factory of throwaway PostgreSQL schemas, as URLs whose search_path points at them."""
    url = server_url("migration")
    with throwaway_schemas(url) as make_schema:
        yield lambda: schema_url(url, make_schema())


@pytest.mark.postgres
def test_migration_runs_on_postgresql(postgres_schema: Any) -> None:
    migrated_url, declared_url = postgres_schema(), postgres_schema()
    upgrade(migrated_url, ARENA_REVISION)
    migrated, declared = sa.create_engine(migrated_url), sa.create_engine(declared_url)
    try:
        with declared.begin() as connection:
            arena = [Base.metadata.tables[name] for name in sorted(ARENA_TABLES)]
            Base.metadata.create_all(connection, tables=arena)
        with migrated.connect() as from_migration, declared.connect() as from_models:
            assert schema_signature(from_migration) == schema_signature(from_models)
            assert set(sa.inspect(from_migration).get_view_names()) >= ARENA_VIEWS

        with migrated.begin() as connection:
            before = catalog_rows(connection)
            seed_catalog(connection)
            assert catalog_rows(connection) == before
            assert len(before["benchmark_config_models"]) == 7
            (seeded_at,) = rows(connection, "SELECT created_at FROM model_families LIMIT 1")[0]
            assert datetime.strptime(seeded_at, "%Y-%m-%d %H:%M:%S")

        with Session(migrated) as session, session.begin():
            start_cohort(session, 1, WEEK_1)
            start_cohort(session, 2, WEEK_2)
            session.add(market("market-1"))
        add_consistent_trade(migrated)
        for case in GUARD_CASES:
            assert_rejected(migrated, *case.values)
        assert_positions_reopen_only_after_close(migrated, "cohort-1--xai-grok")

        command.downgrade(alembic_config(migrated_url), "0001_service")
        with migrated.connect() as connection:
            assert not ARENA_TABLES & set(sa.inspect(connection).get_table_names())
            assert not ARENA_VIEWS & set(sa.inspect(connection).get_view_names())
    finally:
        migrated.dispose()
        declared.dispose()
