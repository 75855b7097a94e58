"""The CreditBrain HTTP API (reference §12.3): thin routes over the credits jobs.

Every route needs `Authorization: Bearer <API_AUTH_TOKEN>` (checked before the body is
validated). Bodies and responses are camelCase through the schemas' one alias generator;
OpenRouter key objects keep OpenRouter's snake_case, as in the anchor. Errors are
`{"error": ..., "statusCode": ...}`; an upstream that fails answers 502."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request

from arenabrain.clients.errors import UpstreamError
from arenabrain.credits import keys, pool, runs, strategies, usage
from arenabrain.credits.schemas import (
    WALLET_MAX_CHARS,
    WALLET_PATTERN,
    AuditView,
    Deleted,
    PoolEntry,
    PoolView,
    RemoteKeyView,
    Revoked,
    RunCreate,
    RunView,
    StatsView,
    StrategyCreate,
    StrategyUpdate,
    StrategyView,
    UsageRowView,
    UserKeyView,
)
from arenabrain.credits.wallets import wallet_problem
from arenabrain.web.auth import ApiAuth, ContextDep, guards, ip_of
from arenabrain.web.errors import AppError, TooManyRequests
from arenabrain.web.openapi import error_responses

router = APIRouter(prefix="/api", dependencies=[ApiAuth], tags=["credits"])

Id = Annotated[str, Path(min_length=1, max_length=128)]
Hash = Annotated[str, Path(min_length=1, max_length=256)]
WalletPath = Annotated[
    str,
    Path(min_length=1, max_length=WALLET_MAX_CHARS, json_schema_extra={"pattern": WALLET_PATTERN}),
]
# What only some routes answer; 400, 413, 401, 429 and (with a path parameter) 404 every route
# documents through web/openapi.py.
UPSTREAM = error_responses(502)
RUNNING = error_responses(403, 404, 409, 502, 503)


class BadGateway(AppError):
    status_code = 502


class RunRateLimited(TooManyRequests):
    """The anchor's 429 for POST /api/runs, body and all (its rate-limit plugin's shape)."""

    def __init__(self, retry_after: int) -> None:
        super().__init__("Too Many Requests", retry_after)
        self.extra = {"message": "Rate limit exceeded, retry in 1 minute"}


async def limit_run_starts(request: Request, ctx: ContextDep) -> None:
    """5 run starts per minute per IP, as in the anchor: each one may move money.

    It runs after authentication (the router's dependency), so only callers holding the API
    token spend the budget; failed tokens have their own brute-force guard."""
    limiter = guards(ctx).run_starts
    key = ip_of(request, ctx)
    if not limiter.hit(key):
        raise RunRateLimited(limiter.retry_after(key))


@asynccontextmanager
async def upstream_errors() -> AsyncIterator[None]:
    """An upstream failure is the upstream's fault: 502 with its short reason."""
    try:
        yield
    except UpstreamError as exc:
        raise BadGateway(f"Upstream error: {exc}") from exc


def checked_wallet(wallet: str) -> str:
    problem = wallet_problem(wallet)
    if problem:
        raise AppError(f"wallet: {problem}")
    return wallet


# --- strategies ------------------------------------------------------------------------------


@router.get("/strategies", response_model=list[StrategyView])
async def list_strategies(ctx: ContextDep) -> list[StrategyView]:
    """Every strategy, newest first."""
    return await strategies.list_strategies(ctx)


@router.post("/strategies", response_model=StrategyView)
async def create_strategy(body: StrategyCreate, ctx: ContextDep) -> StrategyView:
    """Create a strategy (defaults from the environment)."""
    return await strategies.create_strategy(ctx, body)


@router.get("/strategies/{strategy_id}", response_model=StrategyView)
async def get_strategy(strategy_id: Id, ctx: ContextDep) -> StrategyView:
    """One strategy."""
    return await strategies.get_strategy(ctx, strategy_id)


@router.patch("/strategies/{strategy_id}", response_model=StrategyView)
async def update_strategy(
    strategy_id: Id, ctx: ContextDep, body: StrategyUpdate | None = None
) -> StrategyView:
    """Change some of a strategy's fields (owner wallet and source are fixed)."""
    return await strategies.update_strategy(ctx, strategy_id, body or StrategyUpdate())


@router.delete("/strategies/{strategy_id}", response_model=Deleted, responses=error_responses(409))
async def delete_strategy(strategy_id: Id, ctx: ContextDep) -> Deleted:
    """Delete a strategy (soft when runs or keys refer to it)."""
    return await strategies.delete_strategy(ctx, strategy_id)


@router.post("/strategies/{strategy_id}/enable", response_model=StrategyView)
async def enable_strategy(strategy_id: Id, ctx: ContextDep) -> StrategyView:
    """Resume the strategy's scheduled runs (status ACTIVE)."""
    return await strategies.set_status(ctx, strategy_id, "ACTIVE")


@router.post("/strategies/{strategy_id}/disable", response_model=StrategyView)
async def disable_strategy(strategy_id: Id, ctx: ContextDep) -> StrategyView:
    """Stop the strategy's scheduled runs (status PAUSED)."""
    return await strategies.set_status(ctx, strategy_id, "PAUSED")


# --- runs ------------------------------------------------------------------------------------


@router.get("/runs", response_model=list[RunView])
async def list_runs(
    ctx: ContextDep,
    strategy_id: Annotated[str | None, Query(alias="strategyId", max_length=128)] = None,
) -> list[RunView]:
    """Runs, newest first (optionally of one strategy)."""
    return await runs.list_runs(ctx, strategy_id)


@router.post(
    "/runs",
    response_model=RunView,
    dependencies=[Depends(limit_run_starts)],
    responses=RUNNING,
)
async def start_run(body: RunCreate, ctx: ContextDep) -> RunView:
    """Run the pipeline for a strategy now and answer with the finished run.

    409 when a run of the strategy is in progress; 403 when the kill switch or the daily cap
    refuses it; 429 past 5 starts a minute from one IP."""
    async with upstream_errors():
        return await runs.start_run(ctx, body.strategy_id, "api")


@router.get("/runs/strategy/{strategy_id}", response_model=list[RunView])
async def runs_of_strategy(strategy_id: Id, ctx: ContextDep) -> list[RunView]:
    """A strategy's runs, newest first."""
    return await runs.list_runs(ctx, strategy_id)


@router.get("/runs/{run_id}", response_model=RunView)
async def get_run(run_id: Id, ctx: ContextDep) -> RunView:
    """One run with its checkpoints and error."""
    return await runs.get_run(ctx, run_id)


@router.get("/runs/{run_id}/audit", response_model=list[AuditView])
async def run_audit(run_id: Id, ctx: ContextDep) -> list[AuditView]:
    """The run's phase audit log, oldest first."""
    return (await runs.run_status(ctx, run_id=run_id)).audit_log


@router.post("/runs/{run_id}/resume", response_model=RunView, responses=RUNNING)
async def resume_run(run_id: Id, ctx: ContextDep) -> RunView:
    """Resume a FAILED run at the phase it failed in."""
    async with upstream_errors():
        return await runs.resume_run(ctx, run_id, "api")


# --- keys ------------------------------------------------------------------------------------


@router.get("/keys", response_model=list[RemoteKeyView], responses=UPSTREAM)
async def list_remote_keys(ctx: ContextDep) -> list[dict[str, Any]]:
    """Every key on the OpenRouter account (OpenRouter's snake_case fields)."""
    async with upstream_errors():
        return await keys.list_remote_keys(ctx)


@router.get("/keys/wallet/{wallet}", response_model=UserKeyView)
async def key_of_wallet(wallet: WalletPath, ctx: ContextDep) -> UserKeyView:
    """The wallet's newest live key (never its plaintext)."""
    return await keys.key_for_wallet(ctx, checked_wallet(wallet))


@router.delete("/keys/wallet/{wallet}", response_model=Revoked, responses=UPSTREAM)
async def revoke_wallet_key(wallet: WalletPath, ctx: ContextDep) -> Revoked:
    """Disable the wallet's key on OpenRouter and mark it REVOKED."""
    async with upstream_errors():
        return await keys.revoke_wallet(ctx, checked_wallet(wallet))


@router.get("/keys/wallet/{wallet}/usage", response_model=list[UsageRowView])
async def usage_of_wallet(wallet: WalletPath, ctx: ContextDep) -> list[dict[str, Any]]:
    """Usage snapshots of the wallet's live key, newest first."""
    key = await keys.key_for_wallet(ctx, checked_wallet(wallet))
    return await usage.usage_rows(ctx, key_hash=key.openrouter_key_hash)


@router.get("/keys/strategy/{strategy_id}", response_model=list[UserKeyView])
async def keys_of_strategy(strategy_id: Id, ctx: ContextDep) -> list[UserKeyView]:
    """The keys provisioned for a strategy's holders, newest first."""
    return await keys.keys_for_strategy(ctx, strategy_id)


@router.get("/keys/{key_hash}", response_model=RemoteKeyView, responses=UPSTREAM)
async def remote_key(key_hash: Hash, ctx: ContextDep) -> dict[str, Any]:
    """One key as OpenRouter reports it (404 when it does not exist)."""
    async with upstream_errors():
        return await keys.get_remote_key(ctx, key_hash)


@router.delete("/keys/{key_hash}", response_model=Revoked, responses=UPSTREAM)
async def revoke_key(key_hash: Hash, ctx: ContextDep) -> Revoked:
    """Disable a holder key by its hash and mark it REVOKED."""
    async with upstream_errors():
        return await keys.revoke_hash(ctx, key_hash)


# --- pool and stats ----------------------------------------------------------------------


@router.get("/credit-pool", response_model=PoolView, responses=UPSTREAM)
@router.get("/pool", response_model=PoolView, include_in_schema=False)
async def credit_pool(ctx: ContextDep) -> PoolView:
    """Credit pool balance, promised headroom, reserve, availability and runway."""
    async with upstream_errors():
        return await pool.pool_status(ctx)


# The anchor answers `?limit=9999` with 1000 rows, so larger values are capped, within a range.
HistoryLimit = Annotated[
    int, Query(ge=1, le=1_000_000, description="Rows, newest first; above 1000 means 1000.")
]


@router.get("/credit-pool/history", response_model=list[PoolEntry])
@router.get("/pool/history", response_model=list[PoolEntry], include_in_schema=False)
async def credit_pool_history(ctx: ContextDep, limit: HistoryLimit = 100) -> list[PoolEntry]:
    """What runs allocated, newest first (limit capped at 1000)."""
    return await pool.pool_history(ctx, limit)


Limit = Annotated[int, Query(ge=1, le=1000)]


@router.get("/usage/key/{key_hash}", response_model=list[UsageRowView])
async def usage_of_key(key_hash: Hash, ctx: ContextDep, limit: Limit = 100) -> list[dict[str, Any]]:
    """Usage snapshots of one key (snake_case rows), newest first."""
    return await usage.usage_rows(ctx, key_hash=key_hash, limit=limit)


@router.get("/usage/strategy/{strategy_id}", response_model=list[UsageRowView])
async def usage_of_strategy(
    strategy_id: Id, ctx: ContextDep, limit: Limit = 100
) -> list[dict[str, Any]]:
    """Usage snapshots of a strategy's keys, newest first."""
    return await usage.usage_rows(ctx, strategy_id=strategy_id, limit=limit)


@router.get("/stats", response_model=StatsView)
async def stats(ctx: ContextDep) -> StatsView:
    """Run counts and money totals (dry runs excluded from the totals)."""
    return await runs.run_stats(ctx)
