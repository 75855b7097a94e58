"""Arena HTTP routes: thin doors onto the arena's jobs, admin services and read models.

Cron routes take `Authorization: Bearer <CRON_SECRET>`; admin routes the `forecaster_admin`
cookie; public routes nothing. Every door declares its answer's shape (`arena.schemas`), and
the admin doors that take a body declare it too. Add new doors to the section they belong
to."""

from __future__ import annotations

from collections.abc import Callable
from enum import Enum
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Path, Query, Request, Response
from fastapi.responses import FileResponse
from fastapi.routing import APIRoute

from arenabrain.arena import (
    admin,
    backups,
    benchmark,
    cohorts,
    export,
    lineup,
    markets,
    read_models,
    resolution,
    snapshots,
)
from arenabrain.arena.decisions import engine as decisions
from arenabrain.arena.public_answers import next_utc_midnight, public_answer, utc_day
from arenabrain.arena.read_models import reads
from arenabrain.arena.schemas.admin import (
    ActionIn,
    AdminActionResult,
    AdminCosts,
    AdminLogs,
    AdminStats,
    BenchmarkOverview,
    ConfigCreated,
    ConfigIn,
    ConfigPromoted,
    ExportCreated,
    ExportFileQuery,
    ExportIn,
    LogsQuery,
    PromoteIn,
    ReleaseCreated,
    ReleaseIn,
    ReviewApproved,
    ReviewDismissed,
    ReviewSummary,
    RolloverIn,
    RolloverPreview,
)
from arenabrain.arena.schemas.jobs import (
    BackupCreated,
    CohortNotStarted,
    CohortStarted,
    DecisionRun,
    LineupChecked,
    MarketSync,
    ResolutionCheck,
    SnapshotsTaken,
)
from arenabrain.arena.schemas.pages import (
    CohortModelPage,
    CohortPage,
    CohortsPage,
    CohortsQuery,
    DecisionPage,
    LeaderboardPage,
    MarketPage,
    MarketsPage,
    MarketsQuery,
    ModelPage,
    PerformancePage,
    PerformanceQuery,
    RecentDecisionsPage,
    RecentDecisionsQuery,
)
from arenabrain.errors import AppError
from arenabrain.web.auth import AdminAuth, ContextDep, CronAuth
from arenabrain.web.errors import ANSWERED, error_response
from arenabrain.web.openapi import error_responses

NO_STORE = {"Cache-Control": "no-store, no-cache, must-revalidate", "Pragma": "no-cache"}


class NoStoreRoute(APIRoute):
    """Admin routes whose every answer, success or error (401 and 400 included), must not be
    cached. Errors are answered here, through the app's one error mapping, so that the headers
    can be added to them."""

    def get_route_handler(self) -> Any:
        handler = super().get_route_handler()

        async def no_store(request: Request) -> Response:
            try:
                response = await handler(request)
            except ANSWERED as exc:
                response = error_response(request, exc)
            response.headers.update(NO_STORE)
            return response

        return no_store


router = APIRouter()
# The groups of /openapi.json: who calls them (the public, the scheduler, the admin).
PUBLIC: list[str | Enum] = ["arena"]
CRON: list[str | Enum] = ["cron"]
ADMIN: list[str | Enum] = ["admin"]
Endpoint = TypeVar("Endpoint", bound=Callable[..., Any])


def admin_no_store(
    method: str, path: str, response_model: Any, **options: Any
) -> Callable[[Endpoint], Endpoint]:
    """Register an admin (cookie) route whose every answer, errors included, is not cached."""

    def register(endpoint: Endpoint) -> Endpoint:
        router.add_api_route(
            path,
            endpoint,
            methods=[method],
            response_model=response_model,
            dependencies=[AdminAuth],
            tags=ADMIN,
            route_class_override=NoStoreRoute,
            **options,
        )
        return endpoint

    return register


# --- cron -----------------------------------------------------------------------------------


@router.post(
    "/api/cron/sync-markets",
    tags=CRON,
    dependencies=[CronAuth],
    response_model=MarketSync,
    responses=error_responses(500),
)
async def sync_markets_route(ctx: ContextDep) -> dict[str, Any]:
    """Sync the top Polymarket markets and refresh the ones that matter."""
    return await markets.sync_markets(ctx)


@router.post(
    "/api/cron/start-cohort",
    tags=CRON,
    dependencies=[CronAuth],
    response_model=CohortStarted | CohortNotStarted,
)
async def start_cohort_route(ctx: ContextDep, force: str | None = None) -> dict[str, Any]:
    """Start this week's cohort (`?force=true` outside the Sunday start window)."""
    return await cohorts.start_cohort(ctx, force=force == "true")


@router.post(
    "/api/cron/check-model-lineup",
    tags=CRON,
    dependencies=[CronAuth],
    response_model=LineupChecked,
    responses=error_responses(502),
)
async def check_model_lineup_route(ctx: ContextDep) -> dict[str, Any]:
    """Check OpenRouter for newer releases and store a review (never promotes anything)."""
    return await lineup.check_model_lineup(ctx)


@router.post(
    "/api/cron/check-resolutions",
    tags=CRON,
    dependencies=[CronAuth],
    response_model=ResolutionCheck,
    responses=error_responses(500),
)
async def check_resolutions_route(ctx: ContextDep) -> dict[str, Any]:
    """Settle the markets Polymarket has resolved, refund the ones it never will, then complete
    the cohorts that are done."""
    return await resolution.check_resolutions(ctx)


@router.post(
    "/api/cron/take-snapshots",
    tags=CRON,
    dependencies=[CronAuth],
    response_model=SnapshotsTaken,
    responses=error_responses(500),
)
async def take_snapshots_route(ctx: ContextDep) -> dict[str, Any]:
    """Mark every open position of the active cohorts to market and record this 10-minute
    portfolio snapshot."""
    return await snapshots.take_snapshots(ctx)


@router.post("/api/cron/backup", dependencies=[CronAuth], response_model=BackupCreated, tags=CRON)
async def backup_route(ctx: ContextDep) -> dict[str, Any]:
    """Write a checked copy of the SQLite database under BACKUP_PATH (400 on PostgreSQL)."""
    return await backups.backup(ctx)


# --- public ---------------------------------------------------------------------------------


@router.get("/api/markets", response_model=MarketsPage, tags=PUBLIC)
async def markets_route(
    request: Request, query: Annotated[MarketsQuery, Query()], ctx: ContextDep
) -> Response:
    """Markets: `status`, `category`, `search`, `sort`, `cohort_bets`, `limit` (<=100), `offset`."""
    return await public_answer(
        request,
        ctx,
        ("markets", *query.model_dump().values()),
        reads.MARKETS,
        MarketsPage,
        lambda: read_models.get_markets(ctx, query),
        headers={"Cache-Control": "no-store"},
    )


@router.get("/api/markets/{market_id}", response_model=MarketPage, tags=PUBLIC)
async def market_route(request: Request, market_id: str, ctx: ContextDep) -> Response:
    """One market with its open positions, recent trades and Brier scores."""
    return await public_answer(
        request,
        ctx,
        ("market", market_id),
        reads.MARKET,
        MarketPage,
        lambda: read_models.get_market(ctx, market_id),
    )


@router.get("/api/cohorts/{cohort_id}", response_model=CohortPage, tags=PUBLIC)
async def cohort_route(request: Request, cohort_id: str, ctx: ContextDep) -> Response:
    """One cohort: agents ranked by value, stats, equity curves, recent decisions."""
    return await public_answer(
        request,
        ctx,
        ("cohort", cohort_id, utc_day(ctx)),
        reads.COHORT,
        CohortPage,
        lambda: read_models.get_cohort(ctx, cohort_id),
        valid_until=next_utc_midnight(ctx),
    )


@router.get(
    "/api/cohorts/{cohort_id}/models/{model_key}", response_model=CohortModelPage, tags=PUBLIC
)
async def cohort_model_route(
    request: Request, cohort_id: str, model_key: str, ctx: ContextDep
) -> Response:
    """One model (family slug, id or legacy id) within one cohort: its agent, rank, decisions,
    positions, history and trades."""
    return await public_answer(
        request,
        ctx,
        ("cohort-model", cohort_id, model_key, utc_day(ctx)),
        reads.COHORT_MODEL,
        CohortModelPage,
        lambda: read_models.get_cohort_model(ctx, cohort_id, model_key),
        valid_until=next_utc_midnight(ctx),
    )


@router.get("/api/models/{model_id}", response_model=ModelPage, tags=PUBLIC)
async def model_route(request: Request, model_id: str, ctx: ContextDep) -> Response:
    """One model family (by slug, id or legacy id) across its cohorts."""
    return await public_answer(
        request,
        ctx,
        ("model", model_id),
        reads.MODEL,
        ModelPage,
        lambda: read_models.get_model(ctx, model_id),
    )


# The anchor's cache headers for what browsers may keep; the service itself never serves an
# answer older than the last committed write (`db.answer_cache`, `ctx.answers`).
LEADERBOARD_CACHE = "public, max-age=15, stale-while-revalidate=45"
PERFORMANCE_CACHE = "public, max-age=60, stale-while-revalidate=600"
RECENT_DECISIONS_CACHE = "public, max-age=120, stale-while-revalidate=30"


@router.get("/api/leaderboard", response_model=LeaderboardPage, tags=PUBLIC)
async def leaderboard_route(request: Request, ctx: ContextDep) -> Response:
    """Model families ranked by marked P/L, then the market baseline, each with scores,
    intervals and sample sizes; every cohort; the public model catalog."""
    return await public_answer(
        request,
        ctx,
        ("leaderboard",),
        reads.LEADERBOARD,
        LeaderboardPage,
        lambda: read_models.get_leaderboard(ctx),
        headers={"Cache-Control": LEADERBOARD_CACHE},
    )


@router.get(
    "/api/performance-data",
    response_model=PerformancePage,
    responses=error_responses(404),
    tags=PUBLIC,
)
async def performance_route(
    request: Request, query: Annotated[PerformanceQuery, Query()], ctx: ContextDep
) -> Response:
    """Each family's mean portfolio value over `range` (10M, 1H, 1D, 1W, 1M, 3M, ALL), for
    unarchived cohorts or one `cohort_id`, optionally one `family_id`; 404 for unknown ids."""
    return await public_answer(
        request,
        ctx,
        ("performance", query.range, query.cohort_id, query.family_id),
        reads.PERFORMANCE,
        PerformancePage,
        lambda: read_models.get_performance_data(
            ctx, query.range, query.cohort_id, query.family_id
        ),
        headers={"Cache-Control": PERFORMANCE_CACHE},
        timed=True,
    )


@router.get("/api/cohorts", response_model=CohortsPage, tags=PUBLIC)
async def cohorts_route(
    request: Request, query: Annotated[CohortsQuery, Query()], ctx: ContextDep
) -> Response:
    """Every cohort, newest first (`limit` 1-200, `offset`), with agents, markets traded and
    decision flags."""
    return await public_answer(
        request,
        ctx,
        ("cohorts", query.limit, query.offset),
        reads.COHORTS,
        CohortsPage,
        lambda: read_models.get_cohorts(ctx, query.model_dump()),
    )


@router.get("/api/decisions/recent", response_model=RecentDecisionsPage, tags=PUBLIC)
async def recent_decisions_route(
    request: Request, query: Annotated[RecentDecisionsQuery, Query()], ctx: ContextDep
) -> Response:
    """The newest decisions of unarchived cohorts (`limit` 1-50, default 10)."""
    return await public_answer(
        request,
        ctx,
        ("recent-decisions", query.limit),
        reads.RECENT_DECISIONS,
        RecentDecisionsPage,
        lambda: read_models.get_recent_decisions(ctx, query.limit),
        headers={"Cache-Control": RECENT_DECISIONS_CACHE},
    )


@router.get("/api/decisions/{decision_id}", response_model=DecisionPage, tags=PUBLIC)
async def decision_route(
    request: Request, decision_id: Annotated[str, Path(max_length=100)], ctx: ContextDep
) -> Response:
    """One decision and its trades (never its prompts, raw answer or cost)."""
    return await public_answer(
        request,
        ctx,
        ("decision", decision_id),
        reads.DECISION,
        DecisionPage,
        lambda: read_models.get_decision(ctx, decision_id),
    )


# --- admin: benchmark control plane -----------------------------------------------------------


@admin_no_store("GET", "/api/admin/benchmark", BenchmarkOverview)
async def benchmark_route(ctx: ContextDep) -> dict[str, Any]:
    """Families, releases, recent configs, the default config and the latest review."""
    return await read_models.benchmark_overview(ctx)


@admin_no_store(
    "POST", "/api/admin/benchmark/releases", ReleaseCreated, responses=error_responses(404, 409)
)
async def create_release_route(ctx: ContextDep, body: ReleaseIn = ReleaseIn()) -> dict[str, Any]:
    """Register an exact OpenRouter release under a family."""
    return await benchmark.create_release(ctx, body)


@admin_no_store(
    "POST", "/api/admin/benchmark/configs", ConfigCreated, responses=error_responses(409)
)
async def create_config_route(ctx: ContextDep, body: ConfigIn = ConfigIn()) -> dict[str, Any]:
    """Create a complete lineup config (not promoted)."""
    return await benchmark.create_config(ctx, body)


@admin_no_store(
    "POST", "/api/admin/benchmark/default", ConfigPromoted, responses=error_responses(404)
)
async def promote_config_route(ctx: ContextDep, body: PromoteIn = PromoteIn()) -> dict[str, Any]:
    """Promote a complete config as the lineup of future cohorts."""
    return await benchmark.promote_config(ctx, body)


@admin_no_store(
    "POST", "/api/admin/benchmark/rollover", RolloverPreview, responses=error_responses(404)
)
async def rollover_route(ctx: ContextDep, body: RolloverIn = RolloverIn()) -> dict[str, Any]:
    """Preview moving running cohorts to a config (applying it is refused)."""
    return await benchmark.preview_rollover(ctx, body)


@admin_no_store("POST", "/api/admin/benchmark/reviews/{review_id}/approve", ReviewApproved)
async def approve_review_route(review_id: str, ctx: ContextDep) -> dict[str, Any]:
    """Approve a lineup review: its upgrades become the default config for future cohorts."""
    return await lineup.approve_review(ctx, review_id)


@admin_no_store("POST", "/api/admin/benchmark/reviews/{review_id}/dismiss", ReviewDismissed)
async def dismiss_review_route(review_id: str, ctx: ContextDep) -> dict[str, Any]:
    """Dismiss a lineup review without changing the lineup."""
    return await lineup.dismiss_review(ctx, review_id)


@admin_no_store("POST", "/api/admin/benchmark/reviews/check", ReviewSummary)
async def check_review_route(ctx: ContextDep) -> dict[str, Any]:
    """Run the lineup review now; answers 200 with the review, even when it failed."""
    return await lineup.run_lineup_review(ctx)


# --- admin: operations (stats, logs, costs, actions, exports) -------------------------------------


@admin_no_store("GET", "/api/admin/stats", AdminStats)
async def admin_stats_route(ctx: ContextDep) -> dict[str, Any]:
    """Active cohorts, agents, markets tracked and the total recorded model cost."""
    return await admin.admin_stats(ctx)


@admin_no_store("GET", "/api/admin/logs", AdminLogs)
async def admin_logs_route(query: Annotated[LogsQuery, Query()], ctx: ContextDep) -> dict[str, Any]:
    """The newest `system_logs` rows: `severity` all (default), info, warning or error;
    `limit` 1..500 (default 100)."""
    return await admin.admin_logs(ctx, query)


@admin_no_store("GET", "/api/admin/costs", AdminCosts)
async def admin_costs_route(ctx: ContextDep) -> dict[str, Any]:
    """Recorded model costs per active family and per cohort, with totals."""
    return await admin.admin_costs(ctx)


@admin_no_store("POST", "/api/admin/action", AdminActionResult, responses=error_responses(500))
async def admin_action_route(ctx: ContextDep, body: ActionIn = ActionIn()) -> dict[str, Any]:
    """Run a job now: `start-cohort` (`force: true` any day), `sync-markets`, `check-cohorts`
    or `backup` (400 with the `pg_dump` hint on PostgreSQL)."""
    return await admin.run_action(ctx, body)


@admin_no_store("POST", "/api/admin/export", ExportCreated, responses=error_responses(404))
async def create_export_route(ctx: ContextDep, body: ExportIn = ExportIn()) -> dict[str, Any]:
    """Export one cohort's tables for at most 7 days as a ZIP of CSV files (50,000 rows per
    table at most); answers the download URL."""
    return await export.create_export(ctx, body)


@admin_no_store(
    "GET",
    "/api/admin/export",
    None,
    response_class=FileResponse,
    responses={
        200: {"content": {"application/zip": {}}, "description": "The ZIP archive"},
        **error_responses(404),
    },
)
async def download_export_route(
    query: Annotated[ExportFileQuery, Query()], ctx: ContextDep
) -> FileResponse:
    """Download an export archive made in the last 24 hours (`file` as `download_url` gave it)."""
    path = await export.export_file(ctx, query.file)
    return FileResponse(
        path,
        media_type="application/zip",
        filename=path.name,
        content_disposition_type="attachment",
    )


# --- decisions ------------------------------------------------------------------------------


@router.post(
    "/api/cron/run-decisions",
    tags=CRON,
    dependencies=[CronAuth],
    response_model=DecisionRun,
    responses=error_responses(502),
    # An agent's `trades_executed` and `error` appear only when it has one.
    response_model_exclude_unset=True,
)
async def run_decisions_route(ctx: ContextDep) -> dict[str, Any]:
    """Ask every agent of the decision-eligible cohorts for this week's decision and trade it;
    502 when every processed agent failed."""
    body = await decisions.run_decisions(ctx)
    if not body["success"]:
        raise AppError(body["error"], 502, **{k: v for k, v in body.items() if k != "error"})
    return body
