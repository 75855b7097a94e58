"""The CreditBrain HTTP API (reference §12.3): thin routes over the credits jobs.

Every route but holder key collection needs `Authorization: Bearer <API_AUTH_TOKEN>` (checked
before the body is validated). Collection is public: the holder proves the wallet with a
signature instead, and it is limited per client address and per wallet. The whole API takes
at most 100 requests a minute from one client address (the anchor's global limit), and
POST /api/runs 5. Bodies and responses are camelCase through the schemas' one alias generator;
OpenRouter key objects keep OpenRouter's snake_case, as in the anchor. Errors are
`{"error": ..., "statusCode": ...}`; an upstream that fails answers 502.

`/api/keys/{wallet}...` are the README's aliases of `/api/keys/wallet/{wallet}...`; they share
`/api/keys/{x}` with the key-hash routes and are told apart by shape: a wallet is a base58
32-byte public key, a key hash is hex (64 characters, never a valid wallet)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from decimal import Decimal
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request, Response

from arenabrain.clients.errors import UpstreamError
from arenabrain.credits import collection, keys, pool, rotation, run_tasks, runs, strategies, usage
from arenabrain.credits.schemas import (
    WALLET_MAX_CHARS,
    WALLET_PATTERN,
    AuditView,
    ClaimChallengeRequest,
    ClaimChallengeView,
    ClaimRequest,
    CollectedKeyView,
    Deleted,
    PoolEntry,
    PoolView,
    RemoteKeyView,
    Revoked,
    Rotated,
    RunCreate,
    RunView,
    StatsView,
    StrategyCreate,
    StrategyUpdate,
    StrategyView,
    UsageRowView,
    UserKeyView,
)
from arenabrain.credits.wallets import is_wallet, wallet_problem
from arenabrain.web.auth import ApiAuth, ContextDep, ip_of
from arenabrain.web.errors import AppError, TooManyRequests
from arenabrain.web.openapi import error_responses

# `router` (what the app includes) = the public collection routes + the bearer-protected rest;
# its lifespan owns the runs that go on after POST /api/runs answered (run_tasks.py).
api = APIRouter(dependencies=[ApiAuth])
claims = APIRouter()

Id = Annotated[str, Path(min_length=1, max_length=128)]
Hash = Annotated[str, Path(min_length=1, max_length=256)]
KeyHashOrWallet = Annotated[
    str,
    Path(
        min_length=1,
        max_length=256,
        description="A key's OpenRouter hash (hex), or a holder wallet (base58 public key)",
    ),
]
WalletPath = Annotated[
    str,
    Path(min_length=1, max_length=WALLET_MAX_CHARS, json_schema_extra={"pattern": WALLET_PATTERN}),
]
# What only some routes answer; 400, 413, 401, 429 and (with a path parameter) 404 every route
# documents through web/openapi.py.
UPSTREAM = error_responses(502)
RUNNING = error_responses(403, 404, 409, 502, 503)
KEY_CHANGE = error_responses(403, 404, 409, 502, 503)  # refused by policy, busy, upstream


class BadGateway(AppError):
    status_code = 502


class RateLimited(TooManyRequests):
    """The anchor's 429 for its rate limits, body and all (its rate-limit plugin's shape)."""

    def __init__(self, retry_after: int) -> None:
        super().__init__("Too Many Requests", retry_after)
        self.extra = {"message": "Rate limit exceeded, retry in 1 minute"}


async def limit_api_requests(request: Request, ctx: ContextDep) -> None:
    """100 requests per minute per client address on the whole CreditBrain API (the anchor's
    global limit), counted before authentication, like the anchor's."""
    limiter = ctx.guards.api_requests
    key = ip_of(request, ctx)
    if not limiter.hit(key):
        raise RateLimited(limiter.retry_after(key))


async def limit_run_starts(request: Request, ctx: ContextDep) -> None:
    """5 run starts per minute per IP, as in the anchor: each one may move money.

    It runs after authentication (the router's dependency), so only callers holding the API
    token spend the budget; failed tokens have their own brute-force guard."""
    limiter = ctx.guards.run_starts
    key = ip_of(request, ctx)
    if not limiter.hit(key):
        raise RateLimited(limiter.retry_after(key))


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


@api.get("/strategies", response_model=list[StrategyView])
async def list_strategies(ctx: ContextDep) -> list[StrategyView]:
    """Every strategy, newest first."""
    return await strategies.list_strategies(ctx)


@api.post("/strategies", response_model=StrategyView)
async def create_strategy(body: StrategyCreate, ctx: ContextDep) -> StrategyView:
    """Create a strategy (defaults from the environment)."""
    return await strategies.create_strategy(ctx, body)


@api.get("/strategies/{strategy_id}", response_model=StrategyView)
async def get_strategy(strategy_id: Id, ctx: ContextDep) -> StrategyView:
    """One strategy."""
    return await strategies.get_strategy(ctx, strategy_id)


@api.patch("/strategies/{strategy_id}", response_model=StrategyView)
async def update_strategy(
    strategy_id: Id, ctx: ContextDep, body: StrategyUpdate | None = None
) -> StrategyView:
    """Change some of a strategy's fields (owner wallet and source are fixed)."""
    return await strategies.update_strategy(ctx, strategy_id, body or StrategyUpdate())


@api.delete("/strategies/{strategy_id}", response_model=Deleted, responses=error_responses(409))
async def delete_strategy(strategy_id: Id, ctx: ContextDep) -> Deleted:
    """Delete a strategy (soft when runs or keys refer to it)."""
    return await strategies.delete_strategy(ctx, strategy_id)


@api.post("/strategies/{strategy_id}/enable", response_model=StrategyView)
async def enable_strategy(strategy_id: Id, ctx: ContextDep) -> StrategyView:
    """Resume the strategy's scheduled runs (status ACTIVE)."""
    return await strategies.set_status(ctx, strategy_id, "ACTIVE")


@api.post("/strategies/{strategy_id}/disable", response_model=StrategyView)
async def disable_strategy(strategy_id: Id, ctx: ContextDep) -> StrategyView:
    """Stop the strategy's scheduled runs (status PAUSED)."""
    return await strategies.set_status(ctx, strategy_id, "PAUSED")


# --- runs ------------------------------------------------------------------------------------


@api.get("/runs", response_model=list[RunView])
async def list_runs(
    ctx: ContextDep,
    strategy_id: Annotated[str | None, Query(alias="strategyId", max_length=128)] = None,
) -> list[RunView]:
    """Runs, newest first (optionally of one strategy)."""
    return await runs.list_runs(ctx, strategy_id)


@api.post(
    "/runs",
    response_model=RunView,
    status_code=202,
    dependencies=[Depends(limit_run_starts)],
    responses={
        200: {"model": RunView, "description": "With ?wait=true: the finished run"},
        **RUNNING,
    },
)
async def start_run(
    body: RunCreate,
    ctx: ContextDep,
    request: Request,
    response: Response,
    wait: Annotated[bool, Query(description="Answer with the finished run (200).")] = False,
) -> RunView:
    """Start a pipeline run for a strategy: 202 with the run as soon as it exists (it goes on
    in the background; `Location` names it), or with ?wait=true 200 with the finished run.

    409 when a run of the strategy is in progress; 403 when the kill switch or the daily cap
    refuses it; 429 past 5 starts a minute from one IP."""
    async with upstream_errors():
        if wait:
            response.status_code = 200
            return await runs.start_run(ctx, body.strategy_id, "api")
        background: run_tasks.BackgroundRuns = request.app.state.credit_runs
        view = await background.start(ctx, body.strategy_id, "api")
    response.headers["Location"] = f"/api/runs/{view.run_id}"
    return view


@api.get("/runs/strategy/{strategy_id}", response_model=list[RunView])
async def runs_of_strategy(strategy_id: Id, ctx: ContextDep) -> list[RunView]:
    """A strategy's runs, newest first."""
    return await runs.list_runs(ctx, strategy_id)


@api.get("/runs/{run_id}", response_model=RunView)
async def get_run(run_id: Id, ctx: ContextDep) -> RunView:
    """One run with its checkpoints and error."""
    return await runs.get_run(ctx, run_id)


@api.get("/runs/{run_id}/audit", response_model=list[AuditView])
async def run_audit(run_id: Id, ctx: ContextDep) -> list[AuditView]:
    """The run's phase audit log, oldest first."""
    return (await runs.run_status(ctx, run_id=run_id)).audit_log


@api.post("/runs/{run_id}/resume", response_model=RunView, responses=RUNNING)
async def resume_run(run_id: Id, ctx: ContextDep) -> RunView:
    """Resume a FAILED run at the phase it failed in."""
    async with upstream_errors():
        return await runs.resume_run(ctx, run_id, "api")


# --- keys ------------------------------------------------------------------------------------


@api.get("/keys", response_model=list[RemoteKeyView], responses=UPSTREAM)
async def list_remote_keys(ctx: ContextDep) -> list[dict[str, Any]]:
    """Every key on the OpenRouter account (OpenRouter's snake_case fields)."""
    async with upstream_errors():
        return await keys.list_remote_keys(ctx)


@api.get("/keys/wallet/{wallet}", response_model=UserKeyView)
async def key_of_wallet(wallet: WalletPath, ctx: ContextDep) -> UserKeyView:
    """The wallet's newest live key (never its plaintext)."""
    return await keys.key_for_wallet(ctx, checked_wallet(wallet))


@api.delete("/keys/wallet/{wallet}", response_model=Revoked, responses=KEY_CHANGE)
async def revoke_wallet_key(wallet: WalletPath, ctx: ContextDep) -> Revoked:
    """Disable, then delete, the wallet's key on OpenRouter; the wallet can get a new key."""
    async with upstream_errors():
        return await rotation.revoke_wallet(ctx, checked_wallet(wallet))


@api.post("/keys/wallet/{wallet}/rotate", response_model=Rotated, responses=KEY_CHANGE)
async def rotate_wallet_key(wallet: WalletPath, ctx: ContextDep) -> Rotated:
    """Replace the wallet's key with a new one (same remaining allowance, reset and expiry),
    ready for the holder to collect; the old key is disabled, then deleted."""
    async with upstream_errors():
        return await rotation.rotate_wallet(ctx, checked_wallet(wallet))


@api.get("/keys/wallet/{wallet}/usage", response_model=list[UsageRowView])
async def usage_of_wallet(wallet: WalletPath, ctx: ContextDep) -> list[dict[str, Any]]:
    """Usage snapshots of the wallet's live key, newest first."""
    key = await keys.key_for_wallet(ctx, checked_wallet(wallet))
    return await usage.usage_rows(ctx, key_hash=key.openrouter_key_hash)


@api.get("/keys/strategy/{strategy_id}", response_model=list[UserKeyView])
async def keys_of_strategy(strategy_id: Id, ctx: ContextDep) -> list[UserKeyView]:
    """The keys provisioned for a strategy's holders, newest first."""
    return await keys.keys_for_strategy(ctx, strategy_id)


@api.get("/keys/{key_hash}", response_model=RemoteKeyView | UserKeyView, responses=UPSTREAM)
async def key_by_hash_or_wallet(key_hash: KeyHashOrWallet, ctx: ContextDep) -> Any:
    """A key hash: the key as OpenRouter reports it (404 when it does not exist). A wallet:
    the wallet's newest live key, as /keys/wallet/{wallet} (the README's alias)."""
    if is_wallet(key_hash):
        return await keys.key_for_wallet(ctx, key_hash)
    async with upstream_errors():
        return await keys.get_remote_key(ctx, key_hash)


@api.delete("/keys/{key_hash}", response_model=Revoked, responses=KEY_CHANGE)
async def revoke_by_hash_or_wallet(key_hash: KeyHashOrWallet, ctx: ContextDep) -> Revoked:
    """Revoke a holder key by its hash, or a wallet's key (the README's alias): disabled,
    then deleted on OpenRouter, and marked REVOKED."""
    async with upstream_errors():
        if is_wallet(key_hash):
            return await rotation.revoke_wallet(ctx, key_hash)
        return await rotation.revoke_hash(ctx, key_hash)


@api.get("/keys/{key_hash}/usage", response_model=list[UsageRowView])
async def usage_by_hash_or_wallet(
    key_hash: KeyHashOrWallet, ctx: ContextDep
) -> list[dict[str, Any]]:
    """Usage snapshots of a wallet's live key (the README's alias) or of a key hash."""
    if is_wallet(key_hash):
        return await usage_of_wallet(key_hash, ctx)
    return await usage.usage_rows(ctx, key_hash=key_hash)


@api.post("/keys/{key_hash}/rotate", response_model=Rotated, responses=KEY_CHANGE)
async def rotate_by_hash_or_wallet(key_hash: KeyHashOrWallet, ctx: ContextDep) -> Rotated:
    """Rotate a wallet's key (the README's alias of /keys/wallet/{wallet}/rotate) or a key by
    its hash."""
    async with upstream_errors():
        if is_wallet(key_hash):
            return await rotation.rotate_wallet(ctx, key_hash)
        return await rotation.rotate_hash(ctx, key_hash)


# --- pool and stats ----------------------------------------------------------------------


@api.get("/credit-pool", response_model=PoolView, responses=UPSTREAM)
@api.get("/pool", response_model=PoolView, include_in_schema=False)
async def credit_pool(ctx: ContextDep) -> PoolView:
    """Credit pool balance, promised headroom, reserve, availability and runway."""
    async with upstream_errors():
        return await pool.pool_status(ctx)


# The anchor answers `?limit=9999` with 1000 rows, so larger values are capped, within a range.
HistoryLimit = Annotated[
    int, Query(ge=1, le=1_000_000, description="Rows, newest first; above 1000 means 1000.")
]


@api.get("/credit-pool/history", response_model=list[PoolEntry])
@api.get("/pool/history", response_model=list[PoolEntry], include_in_schema=False)
async def credit_pool_history(ctx: ContextDep, limit: HistoryLimit = 100) -> list[PoolEntry]:
    """What runs allocated, newest first (limit capped at 1000)."""
    return await pool.pool_history(ctx, limit)


Limit = Annotated[int, Query(ge=1, le=1000)]


@api.get("/usage/key/{key_hash}", response_model=list[UsageRowView])
async def usage_of_key(key_hash: Hash, ctx: ContextDep, limit: Limit = 100) -> list[dict[str, Any]]:
    """Usage snapshots of one key (snake_case rows), newest first."""
    return await usage.usage_rows(ctx, key_hash=key_hash, limit=limit)


@api.get("/usage/strategy/{strategy_id}", response_model=list[UsageRowView])
async def usage_of_strategy(
    strategy_id: Id, ctx: ContextDep, limit: Limit = 100
) -> list[dict[str, Any]]:
    """Usage snapshots of a strategy's keys, newest first."""
    return await usage.usage_rows(ctx, strategy_id=strategy_id, limit=limit)


@api.get("/stats", response_model=StatsView)
async def stats(ctx: ContextDep) -> StatsView:
    """Run counts and money totals (dry runs excluded from the totals)."""
    return await runs.run_stats(ctx)


# --- holder key collection (public) ------------------------------------------------------------

COLLECTION = error_responses(401, 404, 409, 429, 503)
COLLECTION_LIMITED = "Too many key collection attempts. Try again later."


async def limit_claim_addresses(request: Request, ctx: ContextDep) -> None:
    """Collection attempts per client address (before the body is read)."""
    limiter = ctx.guards.claim_addresses
    key = ip_of(request, ctx)
    if not limiter.hit(key):
        raise TooManyRequests(COLLECTION_LIMITED, limiter.retry_after(key))


def limit_claim_wallet(ctx: ContextDep, wallet: str) -> None:
    """Collection attempts per wallet, from any address."""
    limiter = ctx.guards.claim_wallets
    if not limiter.hit(wallet):
        raise TooManyRequests(COLLECTION_LIMITED, limiter.retry_after(wallet))


@claims.post(
    "/keys/claim/challenge",
    response_model=ClaimChallengeView,
    dependencies=[Depends(limit_claim_addresses)],
    responses=COLLECTION,
)
async def claim_challenge(body: ClaimChallengeRequest, ctx: ContextDep) -> ClaimChallengeView:
    """A one-time nonce and the exact message the holder signs with the wallet to collect its
    key (valid 5 minutes). 404 when no key waits for that wallet. No bearer token."""
    limit_claim_wallet(ctx, body.wallet)
    challenge = await collection.issue_challenge(ctx, body.wallet)
    return ClaimChallengeView(
        nonce=challenge.nonce, message=challenge.message, expires_at=challenge.expires_at
    )


@claims.post(
    "/keys/claim",
    response_model=CollectedKeyView,
    dependencies=[Depends(limit_claim_addresses)],
    responses=COLLECTION,
)
async def claim_key(body: ClaimRequest, ctx: ContextDep, response: Response) -> CollectedKeyView:
    """The holder's OpenRouter key, once, for the wallet's ed25519 signature (base58 or base64)
    of the challenge message. The nonce is used up whatever the outcome. No bearer token."""
    limit_claim_wallet(ctx, body.wallet)
    got = await collection.collect_key(ctx, body.wallet, body.nonce, body.signature)
    response.headers["Cache-Control"] = "no-store"
    return CollectedKeyView(
        wallet=got.wallet,
        key=got.key,
        key_hash=got.key_hash,
        spending_limit_usd=Decimal(got.limit_usd_cents) / 100,
        limit_reset=got.limit_reset,
        expires_at=got.expires_at,
    )


router = APIRouter(
    prefix="/api",
    tags=["credits"],
    dependencies=[Depends(limit_api_requests)],
    lifespan=run_tasks.lifespan,
)
router.include_router(claims)
router.include_router(api)
