"""One `Settings` object for the whole service, read from the environment (and `.env`).

Every variable of both runbooks is here with its documented default and range. `load_settings`
turns every problem into one line of a single `SettingsError`, so an operator fixes them all at
once; secret values are never echoed."""

from __future__ import annotations

import base64
import binascii
import json
import os
from collections.abc import Mapping
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from dotenv import dotenv_values
from pydantic import (
    AfterValidator,
    AliasChoices,
    BeforeValidator,
    Field,
    SecretStr,
    ValidationError,
)
from pydantic_settings import BaseSettings, SettingsConfigDict

# The anchor's .env.example placeholders: a variable holding one of them counts as unset.
PLACEHOLDERS = frozenset(
    {
        "",
        "<from bags.fm/developers>",
        "<from helius.dev>",
        "<from openrouter.ai dashboard>",
        "<bearer token for CreditBrain API routes>",
        "<spl_token_mint>",
        "<base58_or_json>",
        "<username>",
        "<jwt>",
        "<pubkey>",
        "<hex_private_key>",
    }
)

# Upper bounds the database holds and the domain makes sense of (the API schemas share them).
DISTRIBUTION_TOP_N_MAX = 10_000
KEY_EXPIRY_DAYS_MAX = 3650  # ten years; `now + timedelta(days=...)` overflows past ~2.9 million
MAX_BODY_BYTES_DEFAULT = 1024 * 1024

# Development fallbacks for the arena's secrets (production fails closed instead).
DEV_CRON_SECRET = "dev-secret"
DEV_ADMIN_PASSWORD = "admin"
DEV_ADMIN_SESSION_SECRET = "dev-admin-session-secret"

CREDITS_REQUIRED = (
    "BAGS_API_KEY",
    "HELIUS_API_KEY",
    "OPENROUTER_MANAGEMENT_KEY",
    "API_AUTH_TOKEN",
    "KEY_ENCRYPTION_KEY",
)

_TRUE = {"true", "1", "yes"}
_FALSE = {"false", "0", "no"}


def parse_bool(value: Any) -> bool:
    """true/false/1/0/yes/no, case-insensitive, and nothing else."""
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ValueError("must be one of true, false, 1, 0, yes, no")


def _unset_placeholder(value: Any) -> Any:
    if isinstance(value, str) and value.strip() in PLACEHOLDERS:
        return None
    return value


def _null_word(value: Any) -> Any:
    if isinstance(value, str) and value.strip().lower() in {"null", "none", ""}:
        return None
    return value


def _normalise_level(value: Any) -> Any:
    return "warn" if isinstance(value, str) and value.lower() == "warning" else value


def key_encryption_key_bytes(text: str) -> bytes:
    """The 32 bytes a KEY_ENCRYPTION_KEY encodes (base64, standard or URL-safe, or 64 hex
    digits, as `openssl rand -base64 32` or `openssl rand -hex 32` print them)."""
    text = text.strip()
    decoded: bytes | None = None
    if len(text) == 64 and all(c in "0123456789abcdefABCDEF" for c in text):
        decoded = bytes.fromhex(text)
    else:
        padded = text + "=" * (-len(text) % 4)
        try:
            decoded = base64.b64decode(padded.replace("-", "+").replace("_", "/"), validate=True)
        except (binascii.Error, ValueError):
            decoded = None
    if decoded is None or len(decoded) != 32:
        raise ValueError(
            "must encode 32 bytes as base64 or 64 hex digits (e.g. `openssl rand -base64 32`)"
        )
    return decoded


def _key_encryption_key(value: SecretStr | None) -> SecretStr | None:
    if value is not None:
        key_encryption_key_bytes(value.get_secret_value())
    return value


def _http_url(value: Any) -> Any:
    text = value.get_secret_value() if isinstance(value, SecretStr) else value
    if text is None:
        return value
    parts = urlsplit(text)
    if parts.scheme not in {"http", "https"} or not parts.netloc:
        raise ValueError("must be an http:// or https:// URL")
    return value


def _public_key(value: str | None) -> str | None:
    if value is None:
        return None
    from solders.pubkey import Pubkey

    try:
        Pubkey.from_string(value.strip())
    except BaseException:  # solders raises its own exception types
        raise ValueError("must be a base58 Solana public key (32 bytes)") from None
    return value.strip()


def _cents(value: Decimal) -> Decimal:
    if value != value.quantize(Decimal("0.01")):
        raise ValueError("must be a whole number of cents (at most 2 decimal places)")
    return value


def _crontab(value: str) -> str:
    from arenabrain.cron import crontab_trigger

    crontab_trigger(value)
    return value


Flag = Annotated[bool, BeforeValidator(parse_bool)]
OptionalSecret = Annotated[SecretStr | None, BeforeValidator(_unset_placeholder)]
OptionalText = Annotated[str | None, BeforeValidator(_unset_placeholder)]
HttpUrl = Annotated[str, AfterValidator(_http_url)]
OptionalSecretUrl = Annotated[OptionalSecret, AfterValidator(_http_url)]
PublicKey = Annotated[OptionalText, AfterValidator(_public_key)]
Usd = Annotated[Decimal, AfterValidator(_cents)]


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_file=".env", extra="ignore", case_sensitive=False, populate_by_name=True
    )

    # --- service -------------------------------------------------------------------------
    app_env: Literal["development", "production", "test"] = Field(
        "development", validation_alias=AliasChoices("APP_ENV", "NODE_ENV")
    )
    host: str = "127.0.0.1"
    port: int = Field(3001, ge=1, le=65535)
    log_level: Annotated[
        Literal["debug", "info", "warn", "error"], BeforeValidator(_normalise_level)
    ] = "info"
    database_path: str = "data/arenabrain.db"
    database_url: OptionalSecret = None
    arena_enabled: Flag = True
    credits_enabled: Flag = False
    scheduler_enabled: Flag = True
    sandbox: Flag = False
    trust_proxy_headers: Flag = False
    max_body_bytes: int = Field(MAX_BODY_BYTES_DEFAULT, ge=1024, le=64 * 1024 * 1024)
    site_url: str = Field(
        "http://localhost:3001",
        validation_alias=AliasChoices("SITE_URL", "NEXT_PUBLIC_SITE_URL"),
    )
    github_url: str | None = Field(
        None, validation_alias=AliasChoices("GITHUB_URL", "NEXT_PUBLIC_GITHUB_URL")
    )

    # --- arena ---------------------------------------------------------------------------
    openrouter_api_key: OptionalSecret = None
    cron_secret: OptionalSecret = None
    admin_password: OptionalSecret = None
    admin_session_secret: OptionalSecret = None
    backup_path: str = "backups"
    backup_retention_count: int = Field(7, ge=1, le=1000)
    decision_cohort_limit: int = Field(5, ge=1, le=1000)
    arena_decision_concurrency: int = Field(8, ge=1, le=64)
    top_markets_count: int = Field(500, ge=1, le=20000)
    # Days after a market's close date before one Polymarket never decided is refunded at cost.
    resolution_grace_days: int = Field(14, ge=1, le=365)

    # --- upstream base URLs ----------------------------------------------------------------
    polymarket_gamma_url: HttpUrl = "https://gamma-api.polymarket.com"
    polymarket_clob_url: HttpUrl = "https://clob.polymarket.com"
    openrouter_base_url: HttpUrl = "https://openrouter.ai/api/v1"
    bags_api_base_url: HttpUrl = "https://public-api-v2.bags.fm/api/v1"
    helius_rpc_url: OptionalSecretUrl = None

    # --- CreditBrain: API keys and Solana ------------------------------------------------
    bags_api_key: OptionalSecret = None
    helius_api_key: OptionalSecret = None
    openrouter_management_key: OptionalSecret = None
    api_auth_token: OptionalSecret = None
    solana_network: Literal["mainnet-beta", "devnet"] = "mainnet-beta"
    signer_private_key: OptionalSecret = None
    key_encryption_key: Annotated[OptionalSecret, AfterValidator(_key_encryption_key)] = None
    evm_private_key: OptionalSecret = None
    evm_chain_id: int = 8453

    # --- CreditBrain: fee claiming -------------------------------------------------------------
    fee_threshold_sol: Decimal = Field(Decimal("5"), ge=1, le=100)
    fee_source: Literal["CLAIMABLE_POSITIONS", "PARTNER_FEES"] = "CLAIMABLE_POSITIONS"
    swap_slippage_bps: int = Field(50, ge=0, le=1000)

    # --- CreditBrain: distribution -------------------------------------------------------------
    default_key_limit_usd: Usd = Field(Decimal("10"), ge=1)
    key_limit_reset: Annotated[
        Literal["daily", "weekly", "monthly"] | None, BeforeValidator(_null_word)
    ] = "monthly"
    key_expiry_days: int = Field(365, ge=0, le=KEY_EXPIRY_DAYS_MAX)
    credit_pool_reserve_pct: Decimal = Field(Decimal("10"), ge=0, le=50)
    distribution_mode: Literal[
        "OWNER_ONLY", "TOP_N_HOLDERS", "EQUAL_SPLIT", "WEIGHTED_BY_HOLDINGS", "CUSTOM_LIST"
    ] = "TOP_N_HOLDERS"
    distribution_top_n: int = Field(100, ge=1, le=DISTRIBUTION_TOP_N_MAX)
    distribution_token_mint: PublicKey = None

    # --- CreditBrain: scheduling and safety ----------------------------------------------------
    cron_expression: Annotated[str, AfterValidator(_crontab)] = "0 */6 * * *"
    min_cron_interval_hours: int = Field(1, ge=1)
    dry_run: Flag = False
    execution_kill_switch: Flag = False
    max_daily_runs: int = Field(4, ge=0)
    max_claimable_sol_per_run: Decimal = Field(Decimal("100"), ge=0)
    max_key_limit_usd: Usd = Field(Decimal("100"), ge=1, le=10000)
    key_rotation_days: int = Field(90, ge=1, le=365)
    usage_poll_interval_min: int = Field(15, ge=1, le=1440)
    # Holders PROVISIONING serves at once (key creations and top-ups in flight to OpenRouter).
    provisioning_concurrency: int = Field(8, ge=1, le=64)

    # --- CreditBrain: Bags agent ----------------------------------------------------------------
    bags_agent_username: OptionalText = None
    bags_agent_jwt: OptionalSecret = None
    bags_agent_wallet_address: PublicKey = None

    @classmethod
    def settings_customise_sources(cls, settings_cls, init_settings, **_sources):  # type: ignore[no-untyped-def,override]
        # `load_settings` gathers the environment and .env itself, so validation sees one source.
        return (init_settings,)

    # --- derived values ---------------------------------------------------------------------
    @property
    def is_production(self) -> bool:
        return self.app_env == "production"

    def resolved_database_url(self) -> str:
        """The async SQLAlchemy URL: DATABASE_URL when set, else SQLite at DATABASE_PATH."""
        if self.database_url is not None:
            url = self.database_url.get_secret_value()
            for plain, driver in (
                ("postgresql://", "postgresql+asyncpg://"),
                ("postgres://", "postgresql+asyncpg://"),
                ("sqlite://", "sqlite+aiosqlite://"),
            ):
                if url.startswith(plain):
                    return driver + url[len(plain) :]
            return url
        return f"sqlite+aiosqlite:///{Path(self.database_path).expanduser()}"

    def resolved_helius_rpc_url(self) -> str:
        if self.helius_rpc_url is not None:
            return self.helius_rpc_url.get_secret_value()
        host = "mainnet" if self.solana_network == "mainnet-beta" else "devnet"
        key = self.helius_api_key.get_secret_value() if self.helius_api_key else ""
        return f"https://{host}.helius-rpc.com/?api-key={key}"

    def arena_secret(
        self, name: Literal["cron_secret", "admin_password", "admin_session_secret"]
    ) -> str | None:
        """The configured secret, the documented development fallback, or None (fail closed)."""
        value: SecretStr | None = getattr(self, name)
        if value is not None:
            return value.get_secret_value()
        if self.is_production:
            return None
        return {
            "cron_secret": DEV_CRON_SECRET,
            "admin_password": DEV_ADMIN_PASSWORD,
            "admin_session_secret": DEV_ADMIN_SESSION_SECRET,
        }[name]

    def missing_arena_secrets(self) -> list[str]:
        """Names of arena secrets that are unset (used for the one-time warning and health)."""
        names = ("OPENROUTER_API_KEY", "CRON_SECRET", "ADMIN_PASSWORD", "ADMIN_SESSION_SECRET")
        return [name for name in names if getattr(self, name.lower()) is None]

    def secret_values(self) -> list[str]:
        """Every configured secret value, for the log redaction processor."""
        values = []
        for name in type(self).model_fields:
            value = getattr(self, name)
            if isinstance(value, SecretStr) and len(value.get_secret_value()) >= 4:
                values.append(value.get_secret_value())
        if self.helius_rpc_url is None and self.helius_api_key is not None:
            values.append(self.resolved_helius_rpc_url())
        return values


class SettingsError(Exception):
    """Invalid configuration: every problem, one per line."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__(
            "Invalid configuration:\n" + "\n".join(f"  - {problem}" for problem in problems)
        )


SECRET_FIELDS = frozenset(
    name for name, field in Settings.model_fields.items() if "SecretStr" in str(field.annotation)
)

# Sandbox mode runs without real credentials: each missing CreditBrain key gets a marked stand-in.
SANDBOX_CREDENTIALS = {
    "BAGS_API_KEY": "sandbox-bags-key",
    "HELIUS_API_KEY": "sandbox-helius-key",
    "OPENROUTER_MANAGEMENT_KEY": "sandbox-openrouter-management-key",
    "API_AUTH_TOKEN": "sandbox-api-token",
    # 32 bytes, base64: "arenabrain-sandbox-kek-not-prod!"
    "KEY_ENCRYPTION_KEY": "YXJlbmFicmFpbi1zYW5kYm94LWtlay1ub3QtcHJvZCE=",
    "OPENROUTER_API_KEY": "sandbox-openrouter-key",
    "SIGNER_PRIVATE_KEY": "sandbox",  # replaced by the fixed sandbox keypair below
}
SANDBOX_SIGNER_SEED = b"arenabrain-sandbox-signer-seed-1"  # 32 bytes; sandbox only


def sandbox_signer_secret() -> str:
    """The fixed keypair that signs sandbox transactions (its funds exist only in the emulator)."""
    from solders.keypair import Keypair

    return str(Keypair.from_seed(SANDBOX_SIGNER_SEED))


def load_settings(env: Mapping[str, str] | None = None, env_file: str | None = ".env") -> Settings:
    """Read and validate the configuration; raise `SettingsError` listing every problem.

    `env` replaces the process environment (tests pass a plain dict)."""
    raw = _raw_environment(env, env_file)
    problems: list[str] = []
    sandbox = _flag(raw.get("SANDBOX"))
    if sandbox:
        for name, value in SANDBOX_CREDENTIALS.items():
            if (raw.get(name) or "").strip() in PLACEHOLDERS:
                raw[name] = sandbox_signer_secret() if name == "SIGNER_PRIVATE_KEY" else value
    settings: Settings | None = None
    try:
        settings = Settings.model_validate(_init_values(raw))
    except ValidationError as exc:
        problems.extend(_describe(error, raw) for error in exc.errors())
    if _flag(raw.get("CREDITS_ENABLED")):
        missing = [
            name for name in CREDITS_REQUIRED if (raw.get(name) or "").strip() in PLACEHOLDERS
        ]
        problems.extend(f"{name}: required when CREDITS_ENABLED is true" for name in missing)
    if sandbox and settings is not None and settings.is_production:
        problems.append(
            "SANDBOX: sandbox mode (emulated upstreams, stand-in credentials) cannot run with "
            "APP_ENV=production; unset SANDBOX and --sandbox, or use APP_ENV=development"
        )
    if settings is not None and settings.default_key_limit_usd > settings.max_key_limit_usd:
        problems.append(
            f"DEFAULT_KEY_LIMIT_USD: must not exceed MAX_KEY_LIMIT_USD "
            f"({settings.default_key_limit_usd} > {settings.max_key_limit_usd})"
        )
    signer = raw.get("SIGNER_PRIVATE_KEY")
    if signer and signer.strip() not in PLACEHOLDERS:
        reason = signer_key_problem(signer.strip())
        if reason:
            problems.append(f"SIGNER_PRIVATE_KEY: {reason}")
    if problems or settings is None:
        raise SettingsError(problems)
    return settings


def signer_key_problem(text: str) -> str | None:
    """Why a SIGNER_PRIVATE_KEY value cannot be a Solana keypair, or None when it can."""
    from arenabrain.keypairs import keypair_from_text

    try:
        keypair_from_text(text)
    except ValueError as exc:
        return str(exc)
    return None


def read_environment(env_file: str | None = ".env") -> dict[str, str]:
    """The `.env` file (when present) overlaid by the process environment, names upper-cased."""
    source: dict[str, str] = {}
    if env_file and Path(env_file).exists():
        source.update({k: v for k, v in dotenv_values(env_file).items() if v is not None})
    source.update(os.environ)
    return {key.upper(): value for key, value in source.items()}


def _raw_environment(env: Mapping[str, str] | None, env_file: str | None) -> dict[str, str]:
    if env is None:
        return read_environment(env_file)
    return {key.upper(): value for key, value in env.items()}


def _init_values(raw: Mapping[str, str]) -> dict[str, str]:
    """Map environment names onto field names (and their aliases) for validation."""
    names: dict[str, str] = {}
    for field_name, field in Settings.model_fields.items():
        aliases = (
            field.validation_alias.choices
            if isinstance(field.validation_alias, AliasChoices)
            else []
        )
        for alias in [field_name.upper(), *[str(a) for a in aliases]]:
            if alias in raw:
                names[field_name] = raw[alias]
                break
    return names


def _flag(value: str | None) -> bool:
    try:
        return parse_bool(value) if value is not None else False
    except ValueError:
        return False


def _describe(error: Mapping[str, Any], raw: Mapping[str, str]) -> str:
    field_name = str(error["loc"][0]) if error["loc"] else "?"
    env_name = field_name.upper()
    field = Settings.model_fields.get(field_name)
    if field is not None and isinstance(field.validation_alias, AliasChoices):
        present = [str(a) for a in field.validation_alias.choices if str(a) in raw]
        env_name = present[0] if present else env_name
    message = str(error.get("msg", "invalid value")).removeprefix("Value error, ")
    shown = "" if field_name in SECRET_FIELDS else f" (got {json.dumps(raw.get(env_name, ''))})"
    allowed = _allowed(field_name)
    return f"{env_name}: {message}{shown}" + (f"; allowed: {allowed}" if allowed else "")


def _allowed(field_name: str) -> str:
    field = Settings.model_fields.get(field_name)
    if field is None:
        return ""
    low = high = None
    for item in field.metadata:
        low = getattr(item, "ge", low)
        high = getattr(item, "le", high)
    if low is not None and high is not None:
        return f"{low} to {high}"
    if low is not None:
        return f">= {low}"
    annotation = str(field.annotation)
    if "Literal" in annotation:
        choices = annotation[annotation.index("Literal[") + 8 : annotation.index("]")]
        return choices.replace("'", "")
    if "bool" in annotation:
        return "true, false, 1, 0, yes, no"
    return ""
