"""Admin exports (§12.4, runbook §6.7): validation, the 7-day window and the 50,000-row cap,
windows compared as instants, prompts kept on the server unless asked for, formula cells
neutralised, sanitised names, downloads confined to the exports directory, and cleanup."""

from __future__ import annotations

import csv
import io
import os
import sqlite3
import zipfile
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import insert, select

from arenabrain.arena import export
from arenabrain.arena.models import (
    Agent,
    ApiCost,
    Cohort,
    Decision,
    Market,
    PortfolioSnapshot,
    Position,
    SystemLog,
    Trade,
)
from arenabrain.arena.schemas.admin import ExportIn
from arenabrain.clock import FrozenClock
from arenabrain.context import Context
from arenabrain.settings import Settings
from tests.arena.decisions.support import SUNDAY, SeededCohort, seed_cohort
from tests.conftest import ADMIN_PASSWORD

NO_STORE = "no-store, no-cache, must-revalidate"
PROMPT_MARKERS = ("SYSTEM-PROMPT-MARKER", "USER-PROMPT-MARKER", "RAW-RESPONSE-MARKER")
WINDOW = {"from": "2026-03-01T00:00:00.000Z", "to": "2026-03-07T00:00:00.000Z"}


def ctx_of(http: httpx.AsyncClient) -> Context:
    return http._transport.app.state.ctx  # type: ignore[attr-defined,no-any-return]


@pytest.fixture
async def admin(
    make_client: Callable[[Settings], Any], settings: Settings
) -> AsyncIterator[httpx.AsyncClient]:
    async with make_client(settings) as http:
        login = await http.post("/api/admin/login", json={"password": ADMIN_PASSWORD})
        assert login.status_code == 200
        yield http


@pytest.fixture
def exports(settings: Settings) -> Path:
    return Path(settings.backup_path) / "exports"


async def seed_activity(ctx: Context) -> SeededCohort:
    """Cohort 1 with a week of activity, and cohort 2 whose rows must never be exported."""
    cohort = await seed_cohort(ctx)
    other = await seed_cohort(ctx, number=2, started_at=SUNDAY + timedelta(days=7))
    agent, other_agent = cohort.agent_ids[0], other.agent_ids[0]
    async with ctx.db.write() as session:
        for market_id in ("m-held", "m-other", "m-never"):
            await session.execute(
                insert(Market).values(
                    id=market_id,
                    polymarket_id=f"p-{market_id}",
                    question=f'=HYPERLINK("http://x","{market_id}")',
                    close_date=SUNDAY + timedelta(days=30),
                )
            )
        for i, moment in enumerate(
            [SUNDAY, SUNDAY + timedelta(days=6), SUNDAY + timedelta(days=6, seconds=1)]
        ):
            await session.execute(
                insert(Decision).values(
                    id=f"d{i}",
                    agent_id=agent,
                    cohort_id=cohort.id,
                    decision_week=i + 1,
                    decision_timestamp=moment,
                    prompt_system=PROMPT_MARKERS[0],
                    prompt_user=PROMPT_MARKERS[1],
                    raw_response=PROMPT_MARKERS[2],
                    action="BET",
                    reasoning='-sell everything, then =2+2, it\'s "fine"\nreally',
                    api_cost_usd=0.01,
                )
            )
        await session.execute(
            insert(Position).values(
                id="pos-open",
                agent_id=agent,
                market_id="m-held",
                side="YES",
                shares=10.0,
                avg_entry_price=0.5,
                total_cost=5.0,
                unrealized_pnl=-1.25,
                opened_at=SUNDAY + timedelta(hours=1),
            )
        )
        await session.execute(
            insert(Position).values(
                id="pos-before",
                agent_id=agent,
                market_id="m-held",
                side="NO",
                shares=0.0,
                avg_entry_price=0.5,
                total_cost=0.0,
                status="closed",
                opened_at=SUNDAY - timedelta(days=3),
                closed_at=SUNDAY - timedelta(days=1),
            )
        )
        await session.execute(
            insert(Position).values(
                id="pos-other",
                agent_id=other_agent,
                market_id="m-other",
                side="YES",
                shares=1.0,
                avg_entry_price=0.5,
                total_cost=0.5,
                opened_at=SUNDAY,
            )
        )
        await session.execute(
            insert(Trade).values(
                id="t0",
                agent_id=agent,
                market_id="m-held",
                position_id="pos-open",
                decision_id="d0",
                trade_type="SELL",
                side="YES",
                shares=1.0,
                price=0.4,
                total_amount=0.4,
                realized_pnl=-0.1,
                executed_at=SUNDAY + timedelta(hours=1),
            )
        )
        await session.execute(
            insert(PortfolioSnapshot).values(
                id="s0",
                agent_id=agent,
                snapshot_timestamp=SUNDAY + timedelta(hours=2),
                cash_balance=9995.0,
                positions_value=4.0,
                total_value=9999.0,
                total_pnl=-1.0,
                total_pnl_percent=-0.01,
            )
        )
        await session.execute(
            insert(ApiCost).values(
                id="c0",
                model_id=await session.scalar(select(Agent.model_id).where(Agent.id == agent)),
                agent_id=agent,
                decision_id="d0",
                cost_usd=0.01,
                recorded_at=SUNDAY,
            )
        )
    return cohort


def archive_of(response: httpx.Response) -> zipfile.ZipFile:
    return zipfile.ZipFile(io.BytesIO(response.content))


def table(archive: zipfile.ZipFile, name: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(archive.read(f"{name}.csv").decode())))


async def export_and_download(
    admin: httpx.AsyncClient, **body: Any
) -> tuple[dict[str, Any], httpx.Response]:
    created = await admin.post(
        "/api/admin/export", json={"cohort_id": "cohort-1", **WINDOW, **body}
    )
    assert created.status_code == 200, created.text
    answer = created.json()
    return answer, await admin.get(answer["download_url"])


async def log_rows(ctx: Context, event_type: str) -> list[str | None]:
    async with ctx.db.read() as session:
        rows = await session.scalars(
            select(SystemLog.event_data).where(SystemLog.event_type == event_type)
        )
        return list(rows.all())


# --- a whole export ---------------------------------------------------------------------------


async def test_export_is_a_zip_of_every_table_and_a_readme(
    admin: httpx.AsyncClient, clock: FrozenClock
) -> None:
    await seed_activity(ctx_of(admin))
    clock.set(datetime(2026, 3, 6, 17, 0, 0, tzinfo=UTC))

    answer, download = await export_and_download(admin)

    name = "export-cohort-1-2026-03-06T17-00-00-000Z.zip"
    assert answer == {
        "success": True,
        "download_url": f"/api/admin/export?file={name}",
        "info": {
            "cohort_id": "cohort-1",
            "from": "2026-03-01T00:00:00.000Z",
            "to": "2026-03-07T00:00:00.000Z",
            "tables": list(export.EXPORT_TABLES),
            "include_prompts": False,
        },
    }
    assert download.status_code == 200
    assert download.headers["content-type"] == "application/zip"
    assert download.headers["content-disposition"] == f'attachment; filename="{name}"'
    assert download.headers["cache-control"] == NO_STORE
    archive = archive_of(download)
    assert archive.testzip() is None
    assert sorted(archive.namelist()) == sorted(
        [f"{t}.csv" for t in export.EXPORT_TABLES] + ["README.txt"]
    )
    readme = archive.read("README.txt").decode()
    assert "Cohort: cohort-1" in readme and "decisions.csv: 2" in readme
    assert "Schema version: " in readme and "Methodology version: v2" in readme
    assert [row["id"] for row in table(archive, "cohorts")] == ["cohort-1"]
    assert (
        len(table(archive, "agents")) == 7 and len(table(archive, "agent_benchmark_identity")) == 7
    )
    assert len(table(archive, "model_families")) == 7
    assert len(table(archive, "benchmark_config_models")) == 7
    assert [row["id"] for row in table(archive, "markets")] == ["m-held"]
    assert [row["id"] for row in table(archive, "positions")] == ["pos-open"]
    assert [row["id"] for row in table(archive, "trades")] == ["t0"]
    assert [row["id"] for row in table(archive, "portfolio_snapshots")] == ["s0"]
    assert [row["id"] for row in table(archive, "api_costs")] == ["c0"]
    logged = await log_rows(ctx_of(admin), "admin_export_created")
    assert len(logged) == 1 and f'"file": "{name}"' in (logged[0] or "")


async def test_window_compares_instants_not_text(admin: httpx.AsyncClient) -> None:
    await seed_activity(ctx_of(admin))  # decisions at 00:00:00, +6 days, +6 days 1 s

    _, inclusive = await export_and_download(
        admin,
        **{"from": "2026-03-01T00:00:00.000Z", "to": "2026-03-07T00:00:00Z"},
        tables=["decisions"],
    )
    _, offset = await export_and_download(
        admin,
        **{"from": "2026-03-01T05:00:00+05:00", "to": "2026-03-07T05:00:00+05:00"},
        tables=["decisions"],
    )
    _, date_only = await export_and_download(
        admin, **{"from": "2026-03-01", "to": "2026-03-07"}, tables=["decisions"]
    )

    for download in (inclusive, offset, date_only):
        assert [row["id"] for row in table(archive_of(download), "decisions")] == ["d0", "d1"]


async def test_without_prompts_no_prompt_or_raw_response_leaves_the_server(
    admin: httpx.AsyncClient,
) -> None:
    await seed_activity(ctx_of(admin))

    _, download = await export_and_download(admin, include_prompts=False)

    archive = archive_of(download)
    for name in archive.namelist():
        content = archive.read(name).decode()
        assert not any(marker in content for marker in PROMPT_MARKERS), name
    columns = set(table(archive, "decisions")[0])
    assert not columns & {"prompt_system", "prompt_user", "raw_response"}
    assert {"reasoning", "action", "parsed_response"} <= columns


async def test_include_prompts_true_exports_them(admin: httpx.AsyncClient) -> None:
    await seed_activity(ctx_of(admin))
    answer, download = await export_and_download(admin, include_prompts=True)
    [first, _] = table(archive_of(download), "decisions")
    assert answer["info"]["include_prompts"] is True
    assert (first["prompt_system"], first["prompt_user"], first["raw_response"]) == PROMPT_MARKERS


async def test_formula_cells_are_neutralised_and_negative_numbers_kept(
    admin: httpx.AsyncClient,
) -> None:
    await seed_activity(ctx_of(admin))
    _, download = await export_and_download(admin)
    archive = archive_of(download)

    [market] = table(archive, "markets")
    assert market["question"] == '\'=HYPERLINK("http://x","m-held")'
    assert table(archive, "decisions")[0]["reasoning"] == (
        "'-sell everything, then =2+2, it's \"fine\"\nreally"
    )
    assert table(archive, "positions")[0]["unrealized_pnl"] == "-1.25"
    assert table(archive, "trades")[0]["realized_pnl"] == "-0.1"
    assert table(archive, "portfolio_snapshots")[0]["total_pnl_percent"] == "-0.01"


@pytest.mark.parametrize(
    ("value", "cell"),
    [
        (None, ""),
        ("plain text", "plain text"),
        ("=1+1", "'=1+1"),
        ("+1", "'+1"),
        ("@SUM(A1:A2)", "'@SUM(A1:A2)"),
        ("\tcmd", "'\tcmd"),
        ("\rcmd", "'\rcmd"),
        ("-", "'-"),
        ("-1+1", "'-1+1"),
        ("-cmd|' /C calc'!A0", "'-cmd|' /C calc'!A0"),
        ("-5", "-5"),
        ("-0.25", "-0.25"),
        ("-1e-05", "-1e-05"),
        (-3.5, "-3.5"),
        (-7, "-7"),
        (0.1, "0.1"),
        (float("-inf"), "'-inf"),
    ],
)
def test_csv_cell(value: Any, cell: str) -> None:
    assert export.csv_cell(value) == cell


def test_csv_text_quotes_what_needs_quoting() -> None:
    text = export.csv_text(["a", "b"], [("x,y", 'say "hi"'), ("line\nbreak", None)])
    assert text == 'a,b\n"x,y","say ""hi"""\n"line\nbreak",\n'
    assert list(csv.reader(io.StringIO(text))) == [
        ["a", "b"],
        ["x,y", 'say "hi"'],
        ["line\nbreak", ""],
    ]


# --- validation -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        ({}, 400, export.REQUIRED),
        ({"cohort_id": "cohort-1", "from": WINDOW["from"]}, 400, export.REQUIRED),
        ({"cohort_id": " ", **WINDOW}, 400, export.REQUIRED),
        ({"cohort_id": "cohort-1", "from": "", "to": WINDOW["to"]}, 400, export.REQUIRED),
        (
            {"cohort_id": "cohort-1", "from": "yesterday", "to": WINDOW["to"]},
            400,
            "Invalid from date",
        ),
        (
            {"cohort_id": "cohort-1", "from": "2026-02-30", "to": WINDOW["to"]},
            400,
            "Invalid from date",
        ),
        ({"cohort_id": "cohort-1", "from": "2026", "to": WINDOW["to"]}, 400, "Invalid from date"),
        ({"cohort_id": "cohort-1", "from": WINDOW["from"], "to": "soon"}, 400, "Invalid to date"),
        (
            {"cohort_id": "cohort-1", "from": WINDOW["to"], "to": WINDOW["from"]},
            400,
            export.TO_BEFORE_FROM,
        ),
        (
            {"cohort_id": "cohort-1", "from": WINDOW["from"], "to": "2026-03-08T00:00:00.001Z"},
            400,
            export.RANGE_TOO_LARGE,
        ),
        (
            {"cohort_id": "cohort-1", "from": WINDOW["from"], "to": "2026-03-08T05:00:00+05:00"},
            200,
            None,
        ),
        ({"cohort_id": "cohort-1", **WINDOW, "tables": []}, 400, export.NO_TABLES),
        ({"cohort_id": "cohort-1", **WINDOW, "tables": ["models"]}, 400, "Unknown tables: models"),
        ({"cohort_id": "cohort-1", **WINDOW, "tables": "decisions"}, 400, "tables:"),
        ({"cohort_id": "cohort-1", **WINDOW, "include_prompts": "true"}, 400, "include_prompts:"),
        ({"cohort_id": "cohort-1", **WINDOW, "format": "xlsx"}, 400, "format:"),
        ({"cohort_id": "cohort-404", **WINDOW}, 404, "Unknown cohort"),
        ({"cohort_id": "cohort-1", "from": WINDOW["from"], "to": WINDOW["from"]}, 200, None),
    ],
)
async def test_export_validation(
    admin: httpx.AsyncClient, exports: Path, body: dict[str, Any], status: int, message: str | None
) -> None:
    ctx = ctx_of(admin)
    await seed_cohort(ctx)

    response = await admin.post("/api/admin/export", json=body)

    assert response.status_code == status, response.text
    if message is None:
        assert len(os.listdir(exports)) == 1
        return
    assert response.json()["error"].startswith(message)
    assert not exports.exists() or os.listdir(exports) == []  # noqa: ASYNC240
    assert await log_rows(ctx, "admin_export_created") == []


async def test_a_table_above_the_row_cap_fails_the_export_naming_it(
    admin: httpx.AsyncClient, db_path: Path, exports: Path
) -> None:
    cohort = await seed_cohort(ctx_of(admin))
    start = datetime(2026, 3, 1)
    rows = [
        (f"s{i}", cohort.agent_ids[0], str(start + timedelta(seconds=i)), 1.0, 0.0, 1.0, 0.0, 0.0)
        for i in range(export.ROW_CAP + 1)
    ]
    with sqlite3.connect(db_path) as connection:
        connection.executemany(
            "INSERT INTO portfolio_snapshots (id, agent_id, snapshot_timestamp, cash_balance,"
            " positions_value, total_value, total_pnl, total_pnl_percent)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            rows,
        )

    response = await admin.post("/api/admin/export", json={"cohort_id": "cohort-1", **WINDOW})

    assert response.status_code == 400
    assert response.json()["error"] == (
        "portfolio_snapshots exceeds row cap (50000). Narrow the window."
    )
    assert not exports.exists() or os.listdir(exports) == []  # noqa: ASYNC240


async def test_row_cap_boundary(ctx: Context) -> None:
    await seed_cohort(ctx)
    request = export.export_request(ExportIn.model_validate({"cohort_id": "cohort-1", **WINDOW}))
    async with ctx.db.read() as session:
        columns, rows = await export.table_rows(session, "agents", request, cap=7)
        assert len(rows) == 7 and "family_id" in columns
        with pytest.raises(export.AppError, match=r"agents exceeds row cap \(6\)"):
            await export.table_rows(session, "agents", request, cap=6)


# --- names, downloads and cleanup -------------------------------------------------------------


@pytest.mark.parametrize(
    ("cohort_id", "sanitised"),
    [
        ("cohort-1", "cohort-1"),
        ("  ../../etc/passwd ", "etc-passwd"),
        ("a b\tc/d\\e%2Ff\x00g", "a-b-c-d-e-2Ff-g"),
        ("---", "cohort"),
        ("é", "cohort"),
        ("x" * 80, "x" * 64),
        ("under_score--dash", "under_score-dash"),
    ],
)
def test_cohort_ids_are_sanitised_in_archive_names(cohort_id: str, sanitised: str) -> None:
    assert export.sanitise_cohort_id(cohort_id) == sanitised
    name = export.archive_name(cohort_id, datetime(2026, 3, 6, 17, tzinfo=UTC))
    assert name == f"export-{sanitised}-2026-03-06T17-00-00-000Z.zip"
    assert export.ARCHIVE_NAME.fullmatch(name)


async def test_an_odd_cohort_id_gets_a_safe_archive_name(
    admin: httpx.AsyncClient, exports: Path
) -> None:
    async with ctx_of(admin).db.write() as session:
        await session.execute(
            insert(Cohort).values(
                id="../odd id/..",
                cohort_number=9,
                started_at=SUNDAY,
                methodology_version="v2",
                benchmark_config_id="lineup-2026-05-latest-exact",
            )
        )
    answer, download = await export_and_download(admin, cohort_id="../odd id/..")
    assert answer["download_url"].startswith("/api/admin/export?file=export-odd-id-2026")
    assert download.status_code == 200
    assert [p.name for p in exports.iterdir()] == [answer["download_url"].split("=", 1)[1]]  # noqa: ASYNC240


async def test_two_exports_at_the_same_instant_get_distinct_archives(
    admin: httpx.AsyncClient,
) -> None:
    await seed_cohort(ctx_of(admin))
    first, _ = await export_and_download(admin)
    second, download = await export_and_download(admin)
    assert second["download_url"] == first["download_url"].replace(".zip", "-2.zip")
    assert download.status_code == 200


@pytest.mark.parametrize(
    "query",
    [
        "file=../arenabrain.db",
        "file=..%2Farenabrain.db",
        "file=..%2F..%2F..%2Fetc%2Fpasswd",
        "file=%2Fetc%2Fpasswd",
        "file=/etc/passwd",
        "file=..%252Farenabrain.db",
        "file=..%5Carenabrain.db",
        "file=export-cohort-1-2026-03-01T00-00-00-000Z.zip%00.txt",
        "file=export-cohort-1-2026-03-01T00-00-00-000Z.zip%2F..%2F..%2Farenabrain.db",
        "file=exports%2Fexport-cohort-1-2026-03-01T00-00-00-000Z.zip",
        "file=export-cohort-1-2026-03-01T00-00-00-000Z.zip.partial",
        "file=export-link-2026-03-01T00-00-00-000Z.zip",
        "file=export-missing-2026-03-01T00-00-00-000Z.zip",
    ],
)
async def test_downloads_never_leave_the_exports_directory(
    admin: httpx.AsyncClient, exports: Path, db_path: Path, query: str
) -> None:
    await seed_cohort(ctx_of(admin))
    await export_and_download(admin)  # a real archive exists: export-cohort-1-...
    (exports / "export-cohort-1-2026-03-01T00-00-00-000Z.zip.partial").write_bytes(b"partial")
    (exports / "export-link-2026-03-01T00-00-00-000Z.zip").symlink_to(db_path)

    response = await admin.get(f"/api/admin/export?{query}")

    assert (response.status_code, response.json()) == (
        404,
        {"error": "Not found", "statusCode": 404},
    )
    assert response.headers["cache-control"] == NO_STORE


@pytest.mark.parametrize("query", ["", "?file=", "?file"])
async def test_download_needs_a_file(admin: httpx.AsyncClient, query: str) -> None:
    response = await admin.get(f"/api/admin/export{query}")
    assert (response.status_code, response.json()["error"]) == (400, export.FILE_REQUIRED)


async def test_download_rejects_unknown_query_parameters(admin: httpx.AsyncClient) -> None:
    response = await admin.get("/api/admin/export", params={"file": "x", "path": "/etc"})
    assert response.status_code == 400 and response.json()["error"].startswith("query.path:")


async def test_archives_older_than_24_hours_are_removed(
    admin: httpx.AsyncClient, exports: Path, clock: FrozenClock
) -> None:
    await seed_cohort(ctx_of(admin))
    first, _ = await export_and_download(admin)
    old_name = first["download_url"].split("=", 1)[1]
    exports.joinpath("notes.txt").write_text("kept: not an archive")
    clock.advance(hours=1)
    second, _ = await export_and_download(admin)
    young_name = second["download_url"].split("=", 1)[1]

    clock.advance(hours=23, seconds=1)  # the first is now older than 24 hours, the second not
    now = clock.now().timestamp()
    os.utime(exports / old_name, (now - 86401, now - 86401))
    os.utime(exports / young_name, (now - 82800, now - 82800))
    stale = await admin.get(first["download_url"])

    assert (stale.status_code, stale.json()["error"]) == (404, "Not found")
    assert sorted(p.name for p in exports.iterdir()) == sorted([young_name, "notes.txt"])  # noqa: ASYNC240
    assert (await admin.get(second["download_url"])).status_code == 200


def test_remove_stale_ignores_links_and_other_files(tmp_path: Path) -> None:
    now = datetime(2026, 3, 2, tzinfo=UTC)
    old = (now - timedelta(hours=25)).timestamp()
    stale = tmp_path / "export-a-2026-03-01T00-00-00-000Z.zip"
    unfinished = tmp_path / "export-b-2026-03-01T00-00-00-000Z.zip.partial"
    other = tmp_path / "backup.db"
    for path in (stale, unfinished, other):
        path.write_bytes(b"x")
        os.utime(path, (old, old))
    target = tmp_path / "outside.zip"
    target.write_bytes(b"x")
    link = tmp_path / "export-c-2026-03-01T00-00-00-000Z.zip"
    link.symlink_to(target)
    os.utime(link, (old, old), follow_symlinks=False)

    removed = export.remove_stale(tmp_path, now)

    assert sorted(removed) == sorted([stale.name, unfinished.name])
    assert other.exists() and link.is_symlink() and target.exists()


async def test_only_the_requested_tables_are_exported(admin: httpx.AsyncClient) -> None:
    await seed_activity(ctx_of(admin))
    answer, download = await export_and_download(admin, tables=["decisions", "agents", "agents"])
    assert answer["info"]["tables"] == ["agents", "decisions"]
    assert sorted(archive_of(download).namelist()) == ["README.txt", "agents.csv", "decisions.csv"]
