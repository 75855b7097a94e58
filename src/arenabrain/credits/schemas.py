"""The CreditBrain API's JSON shapes. Every model derives from `CamelModel`: one alias
generator makes the wire format camelCase (the anchor's), fields stay snake_case in Python.

Amounts are exact `Decimal`s in Python and JSON numbers on the wire."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PlainSerializer, field_validator
from pydantic.alias_generators import to_camel

from arenabrain.credits.wallets import wallet_problem

Money = Annotated[Decimal, PlainSerializer(float, return_type=float, when_used="json")]
DistributionName = Literal[
    "OWNER_ONLY", "TOP_N_HOLDERS", "EQUAL_SPLIT", "WEIGHTED_BY_HOLDINGS", "CUSTOM_LIST"
]
SourceName = Literal["CLAIMABLE_POSITIONS", "PARTNER_FEES"]
StatusName = Literal["ACTIVE", "PAUSED", "ERROR"]
LimitReset = Literal["daily", "weekly", "monthly"]


class CamelModel(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True)


class InputModel(CamelModel):
    """Request bodies: unknown fields are rejected, so a misspelt field is a 400, not a no-op."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid")


def _wallet(value: str) -> str:
    problem = wallet_problem(value)
    if problem:
        raise ValueError(problem)
    return value


# --- strategies ------------------------------------------------------------------------------


class KeyConfigIn(InputModel):
    default_limit_usd: Decimal | None = Field(None, gt=0)
    limit_reset: LimitReset | None = None  # explicit null: keys never reset
    expiry_days: int | None = Field(None, ge=0)


class SwapConfigIn(InputModel):
    slippage_bps: int | None = Field(None, ge=0, le=1000)
    max_price_impact_bps: int | None = Field(None, ge=0, le=10000)


class StrategyFields(InputModel):
    distribution_token: str | None = None
    distribution: DistributionName | None = None
    distribution_top_n: int | None = Field(None, ge=1)
    key_config: KeyConfigIn | None = None
    swap_config: SwapConfigIn | None = None
    credit_pool_reserve_pct: Decimal | None = Field(None, ge=0, le=50)
    exclusion_list: list[str] | None = None
    custom_allocations: dict[str, Decimal] | None = None
    schedule: str | None = Field(None, min_length=1, max_length=128)
    min_claim_threshold: Decimal | None = Field(None, ge=0, le=1_000_000)

    @field_validator("distribution_token")
    @classmethod
    def _token(cls, value: str | None) -> str | None:
        return _wallet(value) if value else value

    @field_validator("exclusion_list")
    @classmethod
    def _exclusions(cls, value: list[str] | None) -> list[str] | None:
        return [_wallet(item) for item in value] if value is not None else None

    @field_validator("custom_allocations")
    @classmethod
    def _custom(cls, value: dict[str, Decimal] | None) -> dict[str, Decimal] | None:
        if value is None:
            return None
        for wallet, weight in value.items():
            _wallet(wallet)
            if weight < 0:
                raise ValueError(f"weight for {wallet} must not be negative")
        return value


class StrategyCreate(StrategyFields):
    owner_wallet: str
    source: SourceName | None = None

    @field_validator("owner_wallet")
    @classmethod
    def _owner(cls, value: str) -> str:
        return _wallet(value)


class StrategyUpdate(StrategyFields):
    status: StatusName | None = None


class KeyConfigView(CamelModel):
    default_limit_usd: Money
    limit_reset: LimitReset | None
    expiry_days: int


class SwapConfigView(CamelModel):
    slippage_bps: int
    max_price_impact_bps: int


class StrategyView(CamelModel):
    strategy_id: str
    owner_wallet: str
    source: str
    distribution_token: str
    swap_config: SwapConfigView
    distribution: str
    distribution_top_n: int
    key_config: KeyConfigView
    credit_pool_reserve_pct: float
    exclusion_list: list[str]
    custom_allocations: dict[str, Money]
    schedule: str
    min_claim_threshold: Money
    status: str
    last_run_id: str | None
    created_at: datetime
    updated_at: datetime


class Deleted(CamelModel):
    deleted: bool = True
    strategy_id: str
    soft: bool  # True when history (runs or keys) keeps the row, marked deleted


# --- runs ------------------------------------------------------------------------------------


class RunCreate(InputModel):
    strategy_id: str = Field(min_length=1, max_length=128)


class RunError(CamelModel):
    code: str
    detail: str | None
    failed_state: str | None


class RunView(CamelModel):
    run_id: str
    strategy_id: str | None
    state: str
    trigger: str
    dry_run: bool
    started_at: datetime
    finished_at: datetime | None
    claimed_sol: Money | None
    claimed_lamports: int | None
    claimed_tx_signature: str | None
    swapped_usdc: Money | None
    swap_tx_signature: str | None
    bridged_usdc: Money | None
    bridge_tx_hash: str | None
    bridging_skipped_reason: str | None
    funded_usdc: Money | None
    funding_tx_hash: str | None
    funding_skipped_reason: str | None
    allocated_usd: Money | None
    keys_provisioned: int
    keys_updated: int
    error: RunError | None


class AuditView(CamelModel):
    log_id: str
    run_id: str
    phase: str
    action: str
    details: dict[str, Any]
    tx_signature: str | None
    timestamp: datetime


class RunStatus(CamelModel):
    run: RunView
    audit_log: list[AuditView]


class StatsView(CamelModel):
    total_runs: int
    completed_runs: int
    failed_runs: int
    dry_runs: int
    total_claimed_sol: Money
    total_swapped_usdc: Money
    total_allocated_usd: Money
    total_keys_provisioned: int
    total_keys_updated: int


# --- keys and pool ------------------------------------------------------------------------------


class UserKeyView(CamelModel):
    key_id: str
    strategy_id: str | None
    holder_wallet: str
    openrouter_key_hash: str
    key_name: str
    spending_limit_usd: Money
    current_usage_usd: float
    total_allocated_usd: Money
    limit_reset: str | None
    status: str
    collected: bool
    created_at: datetime
    updated_at: datetime
    expires_at: datetime | None
    last_synced_at: datetime | None


class Revoked(CamelModel):
    revoked: bool = True
    wallet: str | None = None
    hash: str | None = None


class PoolView(CamelModel):
    total_credits_usd: Money
    total_usage_usd: Money
    total_balance_usd: Money  # credits − usage: what the account can still spend
    promised_usd: Money  # headroom already granted to live keys
    reserve_pct: Money
    reserved_usd: Money
    available_usd: Money  # balance − reserve − promised, never below 0
    total_allocated_usd: Money  # lifetime sum of the allocation ledger
    daily_usage_usd: Money | None
    runway_days: float | None
    runway: str
    last_updated: datetime


class PoolEntry(CamelModel):
    id: str
    run_id: str | None
    amount_usd: Money
    created_at: datetime
