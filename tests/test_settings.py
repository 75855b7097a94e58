"""Every variable's default, range edges, boolean parsing and the all-problems-at-once message."""

from __future__ import annotations

from decimal import Decimal

import pytest

from arenabrain.settings import Settings, SettingsError, load_settings, parse_bool

DEFAULTS = {
    "app_env": "development",
    "host": "127.0.0.1",
    "port": 3001,
    "log_level": "info",
    "database_path": "data/arenabrain.db",
    "arena_enabled": True,
    "credits_enabled": False,
    "scheduler_enabled": True,
    "sandbox": False,
    "trust_proxy_headers": False,
    "backup_path": "backups",
    "backup_retention_count": 7,
    "decision_cohort_limit": 5,
    "arena_decision_concurrency": 8,
    "top_markets_count": 500,
    "solana_network": "mainnet-beta",
    "evm_chain_id": 8453,
    "fee_threshold_sol": Decimal("5"),
    "fee_source": "CLAIMABLE_POSITIONS",
    "swap_slippage_bps": 50,
    "default_key_limit_usd": Decimal("10"),
    "key_limit_reset": "monthly",
    "key_expiry_days": 365,
    "credit_pool_reserve_pct": Decimal("10"),
    "distribution_mode": "TOP_N_HOLDERS",
    "distribution_top_n": 100,
    "distribution_token_mint": None,
    "cron_expression": "0 */6 * * *",
    "min_cron_interval_hours": 1,
    "dry_run": False,
    "execution_kill_switch": False,
    "max_daily_runs": 4,
    "max_claimable_sol_per_run": Decimal("100"),
    "max_key_limit_usd": Decimal("100"),
    "key_rotation_days": 90,
    "usage_poll_interval_min": 15,
    "bags_api_base_url": "https://public-api-v2.bags.fm/api/v1",
    "openrouter_base_url": "https://openrouter.ai/api/v1",
    "polymarket_gamma_url": "https://gamma-api.polymarket.com",
    "polymarket_clob_url": "https://clob.polymarket.com",
    "cron_secret": None,
    "signer_private_key": None,
    "evm_private_key": None,
}


@pytest.mark.parametrize(("field", "expected"), DEFAULTS.items(), ids=DEFAULTS.keys())
def test_default(field: str, expected: object) -> None:
    assert getattr(load_settings({}), field) == expected


# (variable, lowest valid, highest valid or None, below, above or None)
RANGES = [
    ("FEE_THRESHOLD_SOL", "1", "100", "0.99", "100.01"),
    ("SWAP_SLIPPAGE_BPS", "0", "1000", "-1", "1001"),
    ("DEFAULT_KEY_LIMIT_USD", "1", None, "0.5", None),
    ("KEY_EXPIRY_DAYS", "0", None, "-1", None),
    ("CREDIT_POOL_RESERVE_PCT", "0", "50", "-1", "51"),
    ("DISTRIBUTION_TOP_N", "1", None, "0", None),
    ("MIN_CRON_INTERVAL_HOURS", "1", None, "0", None),
    ("MAX_DAILY_RUNS", "0", None, "-1", None),
    ("MAX_CLAIMABLE_SOL_PER_RUN", "0", None, "-0.1", None),
    ("MAX_KEY_LIMIT_USD", "1", "10000", "0", "10001"),
    ("KEY_ROTATION_DAYS", "1", "365", "0", "366"),
    ("USAGE_POLL_INTERVAL_MIN", "1", "1440", "0", "1441"),
    ("PORT", "1", "65535", "0", "65536"),
    ("BACKUP_RETENTION_COUNT", "1", None, "0", None),
    ("DECISION_COHORT_LIMIT", "1", None, "0", None),
    ("ARENA_DECISION_CONCURRENCY", "1", "64", "0", "65"),
]


# What a valid edge needs beside it (the default key limit may not exceed the maximum).
COMPANIONS = {"MAX_KEY_LIMIT_USD": {"DEFAULT_KEY_LIMIT_USD": "1"}}


@pytest.mark.parametrize(
    ("name", "low", "high", "below", "above"), RANGES, ids=[r[0] for r in RANGES]
)
def test_range_edges(name: str, low: str, high: str | None, below: str, above: str | None) -> None:
    load_settings({name: low, **COMPANIONS.get(name, {})})
    if high is not None:
        load_settings({name: high})
    for bad in filter(None, (below, above)):
        with pytest.raises(SettingsError) as caught:
            load_settings({name: bad})
        assert caught.value.problems[0].startswith(f"{name}:")
        assert "allowed:" in caught.value.problems[0]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("true", True),
        ("TRUE", True),
        ("1", True),
        ("yes", True),
        ("Yes", True),
        ("false", False),
        ("False", False),
        ("0", False),
        ("no", False),
        ("NO", False),
    ],
)
def test_boolean_words(text: str, expected: bool) -> None:
    assert parse_bool(text) is expected
    assert load_settings({"DRY_RUN": text}).dry_run is expected


@pytest.mark.parametrize("text", ["", "on", "off", "2", "ture", "y"])
def test_boolean_rejects_anything_else(text: str) -> None:
    with pytest.raises(SettingsError) as caught:
        load_settings({"EXECUTION_KILL_SWITCH": text})
    assert "EXECUTION_KILL_SWITCH" in str(caught.value)


def test_every_problem_is_reported_at_once() -> None:
    with pytest.raises(SettingsError) as caught:
        load_settings(
            {
                "PORT": "abc",
                "FEE_THRESHOLD_SOL": "0",
                "DRY_RUN": "maybe",
                "SOLANA_NETWORK": "testnet",
                "DISTRIBUTION_MODE": "TOP_100_HOLDERS",
                "CREDITS_ENABLED": "true",
            }
        )
    message = str(caught.value)
    assert message.startswith("Invalid configuration:")
    for name in (
        "PORT",
        "FEE_THRESHOLD_SOL",
        "DRY_RUN",
        "SOLANA_NETWORK",
        "DISTRIBUTION_MODE",
        "BAGS_API_KEY",
        "HELIUS_API_KEY",
        "OPENROUTER_MANAGEMENT_KEY",
        "API_AUTH_TOKEN",
    ):
        assert f"  - {name}:" in message
    assert len(caught.value.problems) == 10


def test_credits_required_variables_ignore_placeholders() -> None:
    with pytest.raises(SettingsError) as caught:
        load_settings(
            {
                "CREDITS_ENABLED": "1",
                "BAGS_API_KEY": "<from bags.fm/developers>",
                "HELIUS_API_KEY": "h",
                "OPENROUTER_MANAGEMENT_KEY": "m",
                "API_AUTH_TOKEN": "t",
                "KEY_ENCRYPTION_KEY": "k" * 43,  # 32 bytes as base64
            }
        )
    assert caught.value.problems == ["BAGS_API_KEY: required when CREDITS_ENABLED is true"]


def test_secret_values_are_never_echoed() -> None:
    with pytest.raises(SettingsError) as caught:
        load_settings({"SIGNER_PRIVATE_KEY": "not-a-real-key-0OIl", "PORT": "x"})
    assert "not-a-real-key" not in str(caught.value)
    assert "SIGNER_PRIVATE_KEY" in str(caught.value)


def test_signer_key_accepts_base58_and_json_array() -> None:
    from solders.keypair import Keypair

    keypair = Keypair.from_seed(bytes(range(32)))
    as_json = str(list(bytes(keypair)))
    assert load_settings({"SIGNER_PRIVATE_KEY": str(keypair)}).signer_private_key is not None
    assert load_settings({"SIGNER_PRIVATE_KEY": as_json}).signer_private_key is not None


def test_aliases_for_node_env_and_public_urls() -> None:
    settings = load_settings(
        {
            "NODE_ENV": "production",
            "NEXT_PUBLIC_SITE_URL": "https://x.example",
            "NEXT_PUBLIC_GITHUB_URL": "https://github.example/r",
        }
    )
    assert settings.is_production
    assert settings.site_url == "https://x.example"
    assert settings.github_url == "https://github.example/r"


def test_key_limit_reset_accepts_null() -> None:
    assert load_settings({"KEY_LIMIT_RESET": "null"}).key_limit_reset is None
    assert load_settings({"KEY_LIMIT_RESET": "weekly"}).key_limit_reset == "weekly"


def test_database_url_overrides_path() -> None:
    settings = load_settings({"DATABASE_URL": "postgresql://u:p@h/db", "DATABASE_PATH": "x.db"})
    assert settings.resolved_database_url() == "postgresql+asyncpg://u:p@h/db"
    assert (
        load_settings({"DATABASE_PATH": "x.db"}).resolved_database_url()
        == "sqlite+aiosqlite:///x.db"
    )


def test_helius_url_is_built_from_network_and_key_unless_overridden() -> None:
    assert (
        load_settings({"HELIUS_API_KEY": "abc"}).resolved_helius_rpc_url()
        == "https://mainnet.helius-rpc.com/?api-key=abc"
    )
    devnet = load_settings({"HELIUS_API_KEY": "abc", "SOLANA_NETWORK": "devnet"})
    assert devnet.resolved_helius_rpc_url() == "https://devnet.helius-rpc.com/?api-key=abc"
    assert (
        load_settings({"HELIUS_RPC_URL": "http://rpc.local"}).resolved_helius_rpc_url()
        == "http://rpc.local"
    )


def test_arena_secrets_fall_back_in_development_and_fail_closed_in_production() -> None:
    dev = load_settings({})
    assert dev.arena_secret("cron_secret") == "dev-secret"
    assert dev.arena_secret("admin_password") == "admin"
    prod = load_settings({"APP_ENV": "production"})
    assert prod.arena_secret("cron_secret") is None
    assert prod.arena_secret("admin_session_secret") is None


def test_sandbox_fills_missing_credentials_with_marked_stand_ins() -> None:
    settings = load_settings({"SANDBOX": "true", "CREDITS_ENABLED": "true"})
    assert settings.bags_api_key is not None
    assert settings.bags_api_key.get_secret_value().startswith("sandbox-")
    assert settings.signer_private_key is not None  # a fixed keypair, valid base58


def test_sandbox_never_overrides_a_configured_credential() -> None:
    settings = load_settings({"SANDBOX": "true", "API_AUTH_TOKEN": "mine"})
    assert settings.api_auth_token is not None
    assert settings.api_auth_token.get_secret_value() == "mine"


def test_secret_values_lists_configured_secrets() -> None:
    settings = load_settings({"CRON_SECRET": "cron-123", "API_AUTH_TOKEN": "tok-456"})
    assert {"cron-123", "tok-456"} <= set(settings.secret_values())
    assert isinstance(settings, Settings)


def test_env_example_documents_every_variable_and_loads(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from pathlib import Path

    from dotenv import dotenv_values

    example = Path(__file__).resolve().parents[1] / ".env.example"
    text = example.read_text()
    missing = [name.upper() for name in Settings.model_fields if name.upper() not in text]
    assert missing == []
    values = {k: v for k, v in dotenv_values(example).items() if v is not None}
    settings = load_settings(values)
    assert (
        settings.port == 3001
        and settings.dry_run is False
        and settings.cron_expression == "0 */6 * * *"
    )


# --- values that would only fail later are refused at start-up (issue 8, item 9) -----------

VALID_KEK = "S" * 43  # 32 bytes as unpadded base64


@pytest.mark.parametrize(
    ("env", "problem"),
    [
        (
            {"DEFAULT_KEY_LIMIT_USD": "150"},
            "DEFAULT_KEY_LIMIT_USD: must not exceed MAX_KEY_LIMIT_USD (150 > 100)",
        ),
        ({"DEFAULT_KEY_LIMIT_USD": "10.005"}, "DEFAULT_KEY_LIMIT_USD: must be a whole number"),
        ({"MAX_KEY_LIMIT_USD": "99.999"}, "MAX_KEY_LIMIT_USD: must be a whole number"),
        ({"CRON_EXPRESSION": "every six hours"}, "CRON_EXPRESSION: cron expression must have 5"),
        ({"CRON_EXPRESSION": "61 * * * *"}, "CRON_EXPRESSION: "),
        ({"CRON_EXPRESSION": "\uff10 */6 * * *"}, "CRON_EXPRESSION: cron expression must be plain"),
        ({"CRON_EXPRESSION": "0 0 30 2 *"}, "CRON_EXPRESSION: cron expression does not fire every"),
        ({"DISTRIBUTION_TOKEN_MINT": "not-a-mint"}, "DISTRIBUTION_TOKEN_MINT: must be a base58"),
        ({"DISTRIBUTION_TOKEN_MINT": "1" * 20}, "DISTRIBUTION_TOKEN_MINT: must be a base58"),
        ({"BAGS_AGENT_WALLET_ADDRESS": "0xabc"}, "BAGS_AGENT_WALLET_ADDRESS: must be a base58"),
        ({"BAGS_API_BASE_URL": "public-api-v2.bags.fm"}, "BAGS_API_BASE_URL: must be an http"),
        ({"BAGS_API_BASE_URL": "ftp://bags.example"}, "BAGS_API_BASE_URL: must be an http"),
        ({"HELIUS_RPC_URL": "mainnet.helius-rpc.com"}, "HELIUS_RPC_URL: must be an http"),
        ({"POLYMARKET_GAMMA_URL": "gamma"}, "POLYMARKET_GAMMA_URL: must be an http"),
        ({"KEY_ENCRYPTION_KEY": "too-short"}, "KEY_ENCRYPTION_KEY: must encode 32 bytes"),
        ({"KEY_ENCRYPTION_KEY": "k" * 32}, "KEY_ENCRYPTION_KEY: must encode 32 bytes"),
        ({"KEY_ENCRYPTION_KEY": "ab" * 31}, "KEY_ENCRYPTION_KEY: must encode 32 bytes"),
    ],
)
def test_values_that_would_fail_later_stop_start_up(env: dict[str, str], problem: str) -> None:
    with pytest.raises(SettingsError) as caught:
        load_settings(env)
    assert [p for p in caught.value.problems if p.startswith(problem)], caught.value.problems


def test_late_failures_are_listed_together_with_every_other_problem() -> None:
    with pytest.raises(SettingsError) as caught:
        load_settings(
            {
                "PORT": "0",
                "DEFAULT_KEY_LIMIT_USD": "500",
                "CRON_EXPRESSION": "0 0 30 2 *",
                "DISTRIBUTION_TOKEN_MINT": "nope",
                "HELIUS_RPC_URL": "nope",
                "KEY_ENCRYPTION_KEY": "nope",
            }
        )
    names = sorted(p.split(":")[0] for p in caught.value.problems)
    assert names == [
        "CRON_EXPRESSION",
        "DISTRIBUTION_TOKEN_MINT",
        "HELIUS_RPC_URL",
        "KEY_ENCRYPTION_KEY",
        "PORT",
    ]  # DEFAULT_KEY_LIMIT_USD is compared once the rest validates


def test_secret_urls_and_keys_are_not_echoed_in_problems() -> None:
    with pytest.raises(SettingsError) as caught:
        load_settings({"HELIUS_RPC_URL": "secret-api-key-123", "KEY_ENCRYPTION_KEY": "hunter2"})
    assert "secret-api-key-123" not in str(caught.value)
    assert "hunter2" not in str(caught.value)


@pytest.mark.parametrize(
    "kek",
    [
        VALID_KEK,
        VALID_KEK + "=",
        "-_" * 21 + "A",  # URL-safe alphabet
        "0f" * 32,  # hex
    ],
)
def test_key_encryption_key_accepts_base64_and_hex_of_32_bytes(kek: str) -> None:
    assert load_settings({"KEY_ENCRYPTION_KEY": kek}).key_encryption_key is not None


def test_accepted_forms_of_the_late_checked_values() -> None:
    settings = load_settings(
        {
            "DEFAULT_KEY_LIMIT_USD": "100.00",
            "MAX_KEY_LIMIT_USD": "100",
            "CRON_EXPRESSION": "0 0 29 2,3 *",
            "DISTRIBUTION_TOKEN_MINT": " So11111111111111111111111111111111111111112 ",
            "HELIUS_RPC_URL": "http://127.0.0.1:8899",
        }
    )
    assert settings.default_key_limit_usd == Decimal("100")
    assert settings.distribution_token_mint == "So11111111111111111111111111111111111111112"


def test_sandbox_stand_in_key_encryption_key_is_valid() -> None:
    settings = load_settings({"SANDBOX": "true", "CREDITS_ENABLED": "true"})
    assert settings.key_encryption_key is not None


def test_production_refuses_sandbox_mode() -> None:
    with pytest.raises(SettingsError) as caught:
        load_settings({"APP_ENV": "production", "SANDBOX": "true"})
    assert caught.value.problems[0].startswith("SANDBOX: sandbox mode")
    with pytest.raises(SettingsError):
        load_settings({"NODE_ENV": "production", "SANDBOX": "1"})
    assert load_settings({"APP_ENV": "development", "SANDBOX": "true"}).sandbox


# --- request bodies and the bounds the API shares (issue 10) ------------------------------


def test_max_body_bytes_defaults_to_one_mebibyte_within_its_range() -> None:
    assert load_settings({}).max_body_bytes == 1024 * 1024
    assert load_settings({"MAX_BODY_BYTES": "2048"}).max_body_bytes == 2048
    for bad in ("1023", "67108865", "1MB"):
        with pytest.raises(SettingsError) as caught:
            load_settings({"MAX_BODY_BYTES": bad})
        assert caught.value.problems[0].startswith("MAX_BODY_BYTES:")


@pytest.mark.parametrize(
    ("name", "high"), [("KEY_EXPIRY_DAYS", "3650"), ("DISTRIBUTION_TOP_N", "10000")]
)
def test_strategy_defaults_have_the_upper_bound_the_api_states(name: str, high: str) -> None:
    load_settings({name: high})
    with pytest.raises(SettingsError) as caught:
        load_settings({name: str(int(high) + 1)})
    assert caught.value.problems[0].startswith(f"{name}:")
    assert (
        f"allowed: {'0' if name == 'KEY_EXPIRY_DAYS' else '1'} to {high}"
        in caught.value.problems[0]
    )
