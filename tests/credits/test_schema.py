"""The CreditBrain schema as Alembic builds it: every table, the runbook's SQL through the
`sqlite3` tool, the CHECK constraints, the one-live-key index, exact amounts, and strategy
deletes. Behaviour tests run on SQLite and, when ARENABRAIN_TEST_POSTGRES_URL is set, on
PostgreSQL too."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, cast

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.operations import Operations
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from arenabrain.credits import models
from arenabrain.credits.models import (
    AllocationSnapshot,
    CreditPoolAllocation,
    DailyRunCount,
    Run,
    RunLock,
    Strategy,
    UserKey,
)
from arenabrain.db.base import Base
from arenabrain.db.engine import Database
from arenabrain.db.migrate import alembic_config, upgrade

CREDITS_TABLES = {
    "strategies",
    "runs",
    "claim_transactions",
    "audit_log",
    "holder_snapshots",
    "allocation_snapshots",
    "credit_pool_allocations",
    "user_keys",
    "key_claim_nonces",
    "usage_snapshots",
    "daily_run_counts",
    "run_locks",
    "resource_locks",
    "circuit_breakers",
    "webhooks",
    "key_mutations",
    "key_rotations",
}
RUNBOOK_FAILED_RUNS = (
    "SELECT run_id, state, error_code, error_detail FROM runs "
    "WHERE state = 'FAILED' ORDER BY started_at DESC LIMIT 10;"
)
PG_SKIP = "ARENABRAIN_TEST_POSTGRES_URL not set: PostgreSQL migration not exercised"
NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
OWNER = "5xKpPqREhiP1B6d3wTgs8MTwbLj5GhXFsJAiGbrZkE2E"
HOLDER = "7GCihgDB8fe6KNjn2MYtkzZcRjQy3t9GHdC8uHYmW2hr"


def _credits_tables() -> dict[str, sa.Table]:
    """Every table declared in arenabrain.credits.models."""
    tables = [
        cast(sa.Table, mapper.local_table)
        for mapper in Base.registry.mappers
        if mapper.class_.__module__ == models.__name__
    ]
    return {table.name: table for table in tables}


# --- databases -----------------------------------------------------------------------------


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'creditbrain.db'}"
    upgrade(url)
    return url


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A fresh schema on the test server, migrated to head and dropped afterwards."""
    base = os.environ.get("ARENABRAIN_TEST_POSTGRES_URL")
    if not base:
        pytest.skip(PG_SKIP)
    schema = f"credits_test_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(base)
    with admin.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    url = make_url(base).update_query_dict({"options": f"-csearch_path={schema}"})
    url_text = url.render_as_string(hide_password=False)
    try:
        upgrade(url_text)
        yield url_text
    finally:
        with admin.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest) -> str:
    return request.getfixturevalue(f"{request.param}_url")


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    eng = sa.create_engine(db_url)
    if eng.dialect.name == "sqlite":
        # As the service's engine does: without it SQLite ignores every foreign key.
        sa.event.listen(eng, "connect", lambda conn, _: conn.execute("PRAGMA foreign_keys=ON"))
    yield eng
    eng.dispose()


def _add(engine: Engine, *rows: Base) -> None:
    with Session(engine) as session, session.begin():
        session.add_all(rows)


def _strategy(strategy_id: str = "strat-1", **values: Any) -> Strategy:
    return Strategy(
        strategy_id=strategy_id, owner_wallet=OWNER, created_at=NOW, updated_at=NOW, **values
    )


def _run(run_id: str, strategy_id: str = "strat-1", **values: Any) -> Run:
    values.setdefault("started_at", NOW)
    values.setdefault("trigger", "api")
    return Run(run_id=run_id, strategy_id=strategy_id, **values)


def _key(key_id: str, wallet: str = HOLDER, **values: Any) -> UserKey:
    values.setdefault("status", "ACTIVE")
    values.setdefault("limit_usd_cents", 1000)
    return UserKey(
        key_id=key_id,
        strategy_id="strat-1",
        holder_wallet=wallet,
        openrouter_key_hash=f"hash-{key_id}",
        key_name=f"creditbrain-strat-1-{wallet[:8]}",
        created_at=NOW,
        updated_at=NOW,
        **values,
    )


# --- migration ---------------------------------------------------------------------------


def test_upgrade_from_empty_creates_every_credits_table(engine: Engine) -> None:
    assert set(sa.inspect(engine).get_table_names()) >= CREDITS_TABLES
    assert set(_credits_tables()) == CREDITS_TABLES


def test_runs_keep_the_anchor_column_names(engine: Engine) -> None:
    columns = {c["name"] for c in sa.inspect(engine).get_columns("runs")}
    anchor = {
        "run_id", "strategy_id", "state", "started_at", "finished_at",
        "claimed_sol", "claimed_tx_sig", "swapped_usdc", "swap_tx_sig", "swap_quote_snapshot",
        "bridged_usdc", "bridge_tx_hash", "funded_usdc", "funding_tx_hash", "allocated_usd",
        "keys_provisioned", "keys_updated", "error_code", "error_detail", "error_failed_state",
    }  # fmt: skip
    assert anchor <= columns


def test_migration_matches_the_models(engine: Engine) -> None:
    """The hand-written migration and models.py describe the same credits tables."""
    with engine.connect() as conn:
        only_credits = {
            "compare_type": True,
            "include_name": lambda name, kind, _parents: kind != "table" or name in CREDITS_TABLES,
            "include_object": lambda obj, name, kind, *_: kind != "table" or name in CREDITS_TABLES,
        }
        context = MigrationContext.configure(conn, opts=only_credits)
        diffs = compare_metadata(context, Base.metadata)
    assert diffs == []


def test_downgrade_removes_only_the_credits_tables(sqlite_url: str) -> None:
    previous = ScriptDirectory.from_config(alembic_config(sqlite_url)).get_revision("0003_credits")
    assert previous is not None
    command.downgrade(alembic_config(sqlite_url), str(previous.down_revision))
    tables = set(sa.inspect(sa.create_engine(sqlite_url)).get_table_names())
    assert not tables & CREDITS_TABLES
    assert "scheduler_leases" in tables


# --- the runbook ---------------------------------------------------------------------------


def test_runbook_failed_runs_query_runs_verbatim_with_sqlite3(sqlite_url: str) -> None:
    sqlite3_tool = shutil.which("sqlite3")
    if sqlite3_tool is None:
        pytest.skip("the sqlite3 command-line tool is not installed")
    engine = sa.create_engine(sqlite_url)
    _add(engine, _strategy())
    _add(
        engine,
        _run("run-old", state="FAILED", error_code="DB_LOCKED", error_detail="database is locked",
             error_failed_state="ALLOCATING", started_at=NOW - timedelta(days=1)),
        _run("run-new", state="FAILED", error_code="OPENROUTER_TIMEOUT",
             error_detail="OpenRouter timed out after 3 attempts", error_failed_state="PROVISIONING",
             started_at=NOW + timedelta(microseconds=250_000)),
        _run("run-ok", state="COMPLETE", started_at=NOW + timedelta(hours=1)),
    )  # fmt: skip

    database = sqlite_url.removeprefix("sqlite:///")
    result = subprocess.run(
        [sqlite3_tool, database, RUNBOOK_FAILED_RUNS],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )

    assert result.returncode == 0
    assert result.stderr == ""
    assert result.stdout.splitlines() == [
        "run-new|FAILED|OPENROUTER_TIMEOUT|OpenRouter timed out after 3 attempts",
        "run-old|FAILED|DB_LOCKED|database is locked",
    ]
    stored = subprocess.run(
        [sqlite3_tool, database, "SELECT started_at FROM runs ORDER BY started_at;"],
        capture_output=True, text=True, timeout=30, check=True,
    ).stdout.splitlines()  # fmt: skip
    assert all(re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(\.\d{6})?", s) for s in stored)


# --- constraints ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("row", "constraint"),
    [
        (lambda: _run("r", state="DONE"), "ck_runs_state"),
        (
            lambda: _run("r", state="FAILED", error_failed_state="LOST"),
            "ck_runs_error_failed_state",
        ),
        (lambda: _run("r", trigger="webhook"), "ck_runs_trigger"),
        (lambda: _run("r", claimed_lamports=-1), "ck_runs_amounts_not_negative"),
        (lambda: _strategy("s2", distribution_mode="RANDOM"), "ck_strategies_distribution_mode"),
        (lambda: _strategy("s2", source="AIRDROP"), "ck_strategies_source"),
        (lambda: _strategy("s2", status="DELETED"), "ck_strategies_status"),
        (lambda: _strategy("s2", key_limit_reset="yearly"), "ck_strategies_key_limit_reset"),
        (lambda: _key("k", limit_reset="hourly"), "ck_user_keys_limit_reset"),
        (lambda: _key("k", status="active"), "ck_user_keys_status"),
    ],
    ids=lambda value: value if isinstance(value, str) else "",
)
def test_check_constraints_reject_values_outside_the_enumerations(
    engine: Engine, row: Any, constraint: str
) -> None:
    _add(engine, _strategy())
    with pytest.raises(IntegrityError, match=constraint):
        _add(engine, row())


def test_limit_reset_may_be_null(engine: Engine) -> None:
    _add(engine, _strategy(key_limit_reset=None))
    _add(engine, _key("k", limit_reset=None))


def test_one_live_key_per_strategy_and_wallet(engine: Engine) -> None:
    _add(engine, _strategy())
    _add(engine, _key("k1"))
    with pytest.raises(IntegrityError):
        _add(engine, _key("k2"))

    with Session(engine) as session, session.begin():
        session.get_one(UserKey, "k1").status = "REVOKED"
    _add(engine, _key("k2"))

    with Session(engine) as session, session.begin():
        session.get_one(UserKey, "k2").status = "EXHAUSTED"  # still the holder's live key
    with pytest.raises(IntegrityError):
        _add(engine, _key("k3"))


def test_wallets_differing_only_in_case_are_different_holders(engine: Engine) -> None:
    _add(engine, _strategy())
    _add(engine, _key("k1", wallet=HOLDER))
    _add(engine, _key("k2", wallet=HOLDER.lower()), _key("k3", wallet=HOLDER.upper()))
    with Session(engine) as session:
        wallets = session.scalars(
            sa.select(UserKey.holder_wallet).where(UserKey.holder_wallet == HOLDER)
        ).all()
    assert wallets == [HOLDER]


# --- exact amounts and deletes --------------------------------------------------------------


def test_parity_columns_are_computed_from_the_exact_integers(engine: Engine) -> None:
    _add(engine, _strategy())
    _add(
        engine,
        _run("r", claimed_lamports=1_500_000_001, swapped_usdc_base_units=212_345_678,
             allocated_cents=21_233),
        _key("k", limit_usd_cents=1_999),
    )  # fmt: skip
    with engine.connect() as conn:
        run = conn.execute(
            sa.text("SELECT claimed_sol, swapped_usdc, bridged_usdc, allocated_usd FROM runs")
        ).one()
        threshold = conn.execute(sa.text("SELECT min_claim_threshold FROM strategies")).scalar()
        limit = conn.execute(sa.text("SELECT spending_limit_usd FROM user_keys")).scalar()
    assert tuple(run) == (1.500000001, 212.345678, None, 212.33)
    assert threshold == 5.0
    assert limit == 19.99


def test_lamports_beyond_32_bits_are_stored_exactly(engine: Engine) -> None:
    _add(engine, _strategy())
    _add(engine, _run("r", claimed_lamports=9_007_199_254_740_993))  # 2**53 + 1
    with Session(engine) as session:
        assert session.get_one(Run, "r").claimed_lamports == 9_007_199_254_740_993


async def test_async_session_sees_computed_columns_without_lazy_loads(db_url: str) -> None:
    """eager_defaults: after a flush the generated columns are already loaded (no MissingGreenlet)."""
    async_url = db_url.replace("sqlite://", "sqlite+aiosqlite://", 1)
    database = Database(async_url)
    try:
        async with database.write() as session:
            session.add(_strategy())
            await session.flush()
            run = _run("r", claimed_lamports=2_000_000_000)
            session.add(run)
            await session.flush()
            assert run.claimed_sol == 2.0
            run.allocated_cents = 1_050
            await session.flush()
            assert run.allocated_usd == 10.5
            assert run.state == "PENDING"
            assert run.dry_run is False
    finally:
        await database.dispose()


def test_deleting_a_strategy_keeps_its_history_and_never_hits_a_foreign_key(engine: Engine) -> None:
    _add(engine, _strategy())
    _add(
        engine,
        _run("r"),
        _key("k"),
        DailyRunCount(strategy_id="strat-1", date="2026-03-01", count=1),
        RunLock(strategy_id="strat-1", run_id="r", holder="test", acquired_at=NOW,
                refreshed_at=NOW, expires_at=NOW + timedelta(hours=1)),
    )  # fmt: skip
    _add(
        engine,
        AllocationSnapshot(snapshot_id="a", run_id="r", holder_wallet=HOLDER, token_balance="5",
                           allocation_weight=1.0, allocated_cents=100, created_at=NOW),
        CreditPoolAllocation(id="p", run_id="r", amount_cents=100, created_at=NOW),
    )  # fmt: skip

    with engine.begin() as conn:
        conn.execute(sa.text("DELETE FROM strategies WHERE strategy_id = 'strat-1'"))

    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT strategy_id FROM runs")).all() == [(None,)]
        assert conn.execute(sa.text("SELECT strategy_id FROM user_keys")).all() == [(None,)]
        assert conn.execute(sa.text("SELECT count(*) FROM allocation_snapshots")).scalar() == 1
        assert conn.execute(sa.text("SELECT count(*) FROM run_locks")).scalar() == 0
        assert conn.execute(sa.text("SELECT count(*) FROM daily_run_counts")).scalar() == 0


def test_sqlite_table_rebuild_recipe_keeps_generated_columns(sqlite_url: str) -> None:
    """Alembic's batch copy tries to INSERT into generated columns; a later migration that
    rebuilds one of these tables on SQLite drops and re-adds them inside the batch."""
    engine = sa.create_engine(sqlite_url)
    _add(engine, _strategy())
    _add(engine, _run("r", claimed_lamports=3_000_000_000))
    runs = _credits_tables()["runs"]
    with engine.begin() as conn:
        batch = Operations(MigrationContext.configure(conn))
        with batch.batch_alter_table("runs", recreate="always") as runs_op:
            for column in runs.columns:
                if column.computed is not None:
                    expression = str(column.computed.sqltext)
                    runs_op.drop_column(column.name)
                    runs_op.add_column(
                        sa.Column(column.name, sa.Float(), sa.Computed(expression, persisted=True))
                    )
            runs_op.add_column(sa.Column("note", sa.Text()))
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT claimed_sol, note FROM runs")).one() == (3.0, None)
