"""The CreditBrain API's JSON shapes. Every model derives from `CamelModel`: one alias
generator makes the wire format camelCase (the anchor's), fields stay snake_case in Python.

Amounts are exact `Decimal`s in Python and JSON numbers on the wire.

Request bodies (`InputModel`) are strict and bounded: camelCase names only (a snake_case name
is an unknown field), integers that are JSON integers (not `"5"`, `true` or `5.0`), finite
decimals (numbers or numeric strings) within stated ranges and decimal places, and a length
limit on every string, list and map. The ranges show in /openapi.json. Python code builds
them by field name with `Model.of(...)` (or `model_validate(..., by_name=True)`)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, Literal, Self

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    PlainSerializer,
    StrictInt,
    StrictStr,
    field_validator,
)
from pydantic.alias_generators import to_camel

from arenabrain.credits.wallets import wallet_problem
from arenabrain.settings import DISTRIBUTION_TOP_N_MAX, KEY_EXPIRY_DAYS_MAX

Money = Annotated[Decimal, PlainSerializer(float, return_type=float, when_used="json")]
DistributionName = Literal[
    "OWNER_ONLY", "TOP_N_HOLDERS", "EQUAL_SPLIT", "WEIGHTED_BY_HOLDINGS", "CUSTOM_LIST"
]
SourceName = Literal["CLAIMABLE_POSITIONS", "PARTNER_FEES"]
StatusName = Literal["ACTIVE", "PAUSED", "ERROR"]
UserStatusName = Literal["ACTIVE", "PAUSED"]  # ERROR is the system's to set
LimitReset = Literal["daily", "weekly", "monthly"]

WALLET_MAX_CHARS = 44  # a 32-byte key in base58
# What the schema shows of a wallet; the validator checks it decodes to 32 bytes, with a clearer
# message than a pattern mismatch.
WALLET_PATTERN = "^[1-9A-HJ-NP-Za-km-z]{32,44}$"
LIST_MAX_ITEMS = 10_000
KEY_LIMIT_USD_MAX = 10_000  # MAX_KEY_LIMIT_USD's own ceiling; the setting may be lower
WEIGHT_MAX = 10**12


class CamelModel(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True)


class InputModel(BaseModel):
    """Request bodies: camelCase only and unknown fields rejected, so a misspelt or
    snake_case field is a 400, not a no-op."""

    model_config = ConfigDict(
        alias_generator=to_camel, validate_by_name=False, validate_by_alias=True, extra="forbid"
    )

    @classmethod
    def of(cls, **fields: Any) -> Self:
        """Build from Python field names (the wire accepts only the camelCase aliases)."""
        return cls.model_validate(fields, by_name=True)


def _wallet(value: str) -> str:
    problem = wallet_problem(value)
    if problem:
        raise ValueError(problem)
    return value


def _finite(low: int, high: int, places: int, *, above_low: bool = False) -> Any:
    """A finite Decimal in [low, high] (or (low, high]) with at most `places` decimals."""
    if above_low:
        return Field(gt=low, le=high, decimal_places=places, allow_inf_nan=False)
    return Field(ge=low, le=high, decimal_places=places, allow_inf_nan=False)


Wallet = Annotated[
    StrictStr,
    Field(max_length=WALLET_MAX_CHARS, json_schema_extra={"pattern": WALLET_PATTERN}),
    AfterValidator(_wallet),
]
Usd = Annotated[Decimal, _finite(0, KEY_LIMIT_USD_MAX, 2, above_low=True)]
Percent = Annotated[Decimal, _finite(0, 50, 2)]
Sol = Annotated[Decimal, _finite(0, 1_000_000, 9)]
Weight = Annotated[Decimal, _finite(0, WEIGHT_MAX, 9)]
TopN = Annotated[StrictInt, Field(ge=1, le=DISTRIBUTION_TOP_N_MAX)]
ExpiryDays = Annotated[StrictInt, Field(ge=0, le=KEY_EXPIRY_DAYS_MAX)]
Bps = Annotated[StrictInt, Field(ge=0, le=10_000)]


# --- strategies ------------------------------------------------------------------------------


class KeyConfigIn(InputModel):
    default_limit_usd: Usd | None = None
    limit_reset: LimitReset | None = None  # explicit null: keys never reset
    expiry_days: ExpiryDays | None = None  # 0 = never


class SwapConfigIn(InputModel):
    slippage_bps: Annotated[Bps, Field(le=1000)] | None = None
    max_price_impact_bps: Bps | None = None


class StrategyFields(InputModel):
    distribution_token: Annotated[StrictStr, Field(max_length=WALLET_MAX_CHARS)] | None = None
    distribution: DistributionName | None = None
    distribution_top_n: TopN | None = None
    key_config: KeyConfigIn | None = None
    swap_config: SwapConfigIn | None = None
    credit_pool_reserve_pct: Percent | None = None
    exclusion_list: Annotated[list[Wallet], Field(max_length=LIST_MAX_ITEMS)] | None = None
    custom_allocations: Annotated[dict[str, Weight], Field(max_length=LIST_MAX_ITEMS)] | None = None
    schedule: Annotated[StrictStr, Field(min_length=1, max_length=128)] | None = None
    min_claim_threshold: Sol | None = None

    @field_validator("distribution_token")
    @classmethod
    def _token(cls, value: str | None) -> str | None:
        return _wallet(value) if value else value

    @field_validator("custom_allocations", mode="before")
    @classmethod
    def _custom_wallets(cls, value: Any) -> Any:
        # Keys are checked before the weights, so an error never quotes a huge key back.
        if isinstance(value, dict):
            for wallet in value:
                if not isinstance(wallet, str) or len(wallet) > WALLET_MAX_CHARS:
                    raise ValueError(f"keys must be wallets of at most {WALLET_MAX_CHARS} chars")
                _wallet(wallet)
        return value


class StrategyCreate(StrategyFields):
    owner_wallet: Wallet
    source: SourceName | None = None


class StrategyUpdate(StrategyFields):
    status: UserStatusName | None = None


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
    strategy_id: Annotated[StrictStr, Field(min_length=1, max_length=128)]


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


class RemoteKeyView(BaseModel):
    """An OpenRouter key as the anchor served it, in OpenRouter's own snake_case."""

    hash: str
    name: str
    disabled: bool
    limit: float | None
    limit_remaining: float | None
    limit_reset: str | None
    usage: float
    usage_daily: float
    usage_weekly: float
    usage_monthly: float
    created_at: str | None
    updated_at: str | None
    expires_at: str | None


class UsageRowView(BaseModel):
    """One usage poll of one key, as the anchor served it (snake_case)."""

    id: str
    key_hash: str
    strategy_id: str | None
    usage: float
    usage_daily: float
    usage_weekly: float
    usage_monthly: float
    limit_remaining: float | None
    limit: float | None
    polled_at: str


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


# --- holder key collection, rotation ----------------------------------------------------------

# A collection nonce is 32 URL-safe characters; a signature is 64 bytes as base58 (up to 88
# characters) or base64 (88). The bounds leave room without accepting megabytes.
NONCE_MAX_CHARS = 128
SIGNATURE_MAX_CHARS = 128


class ClaimChallengeRequest(InputModel):
    wallet: Wallet


class ClaimChallengeView(CamelModel):
    nonce: str
    message: str  # sign exactly these UTF-8 bytes with the wallet
    expires_at: datetime


class ClaimRequest(InputModel):
    wallet: Wallet
    nonce: Annotated[StrictStr, Field(min_length=1, max_length=NONCE_MAX_CHARS)]
    signature: Annotated[
        StrictStr,
        Field(
            min_length=1,
            max_length=SIGNATURE_MAX_CHARS,
            description="The ed25519 signature of the challenge message, base58 or base64.",
        ),
    ]


class CollectedKeyView(CamelModel):
    """The holder's OpenRouter key, shown this once."""

    wallet: str
    key: str
    key_hash: str
    spending_limit_usd: Money
    limit_reset: str | None
    expires_at: datetime | None


class Rotated(CamelModel):
    """A key replaced by a new one with the same remaining allowance, reset and expiry."""

    rotated: bool = True
    wallet: str
    old_hash: str
    new_hash: str
    spending_limit_usd: Money
    limit_reset: str | None
    expires_at: datetime | None
    rotation_id: str
