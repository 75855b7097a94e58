"""The catalog a fresh arena starts with: methodology versions, the legacy model rows, the
seven model families with their initial releases, and the default lineup built from them.

`seed_catalog` runs inside the schema migration. It writes through lightweight table
clauses rather than the ORM models, so later model changes cannot break an old migration."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection


@dataclass(frozen=True)
class Methodology:
    version: str
    title: str
    description: str
    effective_from_cohort: int | None


@dataclass(frozen=True)
class SeedFamily:
    """One family, the legacy `models` row it maps to, and its initial release."""

    id: str
    legacy_model_id: str
    family_name: str
    display_name: str
    provider: str
    color: str
    sort_order: int
    release_name: str
    release_slug: str
    openrouter_id: str
    input_price_per_million: float
    output_price_per_million: float

    @property
    def release_id(self) -> str:
        return f"{self.id}--{self.release_slug}"


METHODOLOGIES: tuple[Methodology, ...] = (
    Methodology(
        version="v1",
        title="Forecaster Arena Methodology v1",
        description=(
            "Seven language models each receive a $10,000 paper bankroll in a weekly cohort, "
            "trade live Polymarket markets at temperature 0, and are compared on Brier score "
            "and profit and loss."
        ),
        effective_from_cohort=1,
    ),
    Methodology(
        version="v2",
        title="Forecaster Arena Methodology v2",
        description=(
            "Evaluation grounded in what markets actually did: agents are ranked by portfolio "
            "value marked to validated market prices. Applies to cohorts started from now on; "
            "earlier cohorts keep their v1 results."
        ),
        effective_from_cohort=None,
    ),
)

FAMILIES: tuple[SeedFamily, ...] = (
    SeedFamily(
        id="openai-gpt",
        legacy_model_id="gpt-5.1",
        family_name="OpenAI GPT",
        display_name="GPT",
        provider="OpenAI",
        color="#10B981",
        sort_order=1,
        release_name="GPT-5.5",
        release_slug="gpt-5.5",
        openrouter_id="openai/gpt-5.5",
        input_price_per_million=5.0,
        output_price_per_million=30.0,
    ),
    SeedFamily(
        id="google-gemini",
        legacy_model_id="gemini-2.5-flash",
        family_name="Google Gemini",
        display_name="Gemini",
        provider="Google",
        color="#3B82F6",
        sort_order=2,
        release_name="Gemini 3.1 Pro Preview",
        release_slug="gemini-3.1-pro-preview",
        openrouter_id="google/gemini-3.1-pro-preview",
        input_price_per_million=2.0,
        output_price_per_million=12.0,
    ),
    SeedFamily(
        id="xai-grok",
        legacy_model_id="grok-4",
        family_name="xAI Grok",
        display_name="Grok",
        provider="xAI",
        color="#8B5CF6",
        sort_order=3,
        release_name="Grok 4.3",
        release_slug="grok-4.3",
        openrouter_id="x-ai/grok-4.3",
        input_price_per_million=1.25,
        output_price_per_million=2.5,
    ),
    SeedFamily(
        id="anthropic-claude-opus",
        legacy_model_id="claude-opus-4.5",
        family_name="Anthropic Claude Opus",
        display_name="Claude",
        provider="Anthropic",
        color="#F59E0B",
        sort_order=4,
        release_name="Claude Opus 4.7",
        release_slug="claude-opus-4.7",
        openrouter_id="anthropic/claude-opus-4.7",
        input_price_per_million=5.0,
        output_price_per_million=25.0,
    ),
    SeedFamily(
        id="deepseek-v3",
        legacy_model_id="deepseek-v3.1",
        family_name="DeepSeek V3",
        display_name="DeepSeek",
        provider="DeepSeek",
        color="#EF4444",
        sort_order=5,
        release_name="DeepSeek V4 Pro",
        release_slug="deepseek-v4-pro",
        openrouter_id="deepseek/deepseek-v4-pro",
        input_price_per_million=0.435,
        output_price_per_million=0.87,
    ),
    SeedFamily(
        id="moonshot-kimi",
        legacy_model_id="kimi-k2",
        family_name="Moonshot Kimi",
        display_name="Kimi",
        provider="Moonshot AI",
        color="#EC4899",
        sort_order=6,
        release_name="Kimi K2.6",
        release_slug="kimi-k2.6",
        openrouter_id="moonshotai/kimi-k2.6",
        input_price_per_million=0.74,
        output_price_per_million=3.49,
    ),
    SeedFamily(
        id="alibaba-qwen",
        legacy_model_id="qwen-3-next",
        family_name="Alibaba Qwen",
        display_name="Qwen",
        provider="Alibaba",
        color="#06B6D4",
        sort_order=7,
        release_name="Qwen 3.6 Max Preview",
        release_slug="qwen3.6-max-preview",
        openrouter_id="qwen/qwen3.6-max-preview",
        input_price_per_million=1.04,
        output_price_per_million=6.24,
    ),
)

DEFAULT_CONFIG_ID = "lineup-2026-05-latest-exact"
DEFAULT_CONFIG_METHODOLOGY = "v2"
SEED_CREATED_BY = "system:migration"
SEED_CREATED_VIA = "migration:012_latest_model_lineup"
DEFAULT_CONFIG_NOTES = (
    "Initial lineup: the newest general-purpose release of each of the seven families, "
    "pinned to exact OpenRouter ids and priced at their list prices."
)
RELEASE_NOTES = "Initial release of this family, seeded with the arena's starting lineup."


def slot_id(config_id: str, family_id: str) -> str:
    """Id of a lineup slot created by a migration: `<config_id>--<family_id>`."""
    return f"{config_id}--{family_id}"


def release_metadata(family: SeedFamily) -> str:
    return json.dumps(
        {
            "default_input_price_per_million": family.input_price_per_million,
            "default_output_price_per_million": family.output_price_per_million,
            "notes": RELEASE_NOTES,
            "created_via": SEED_CREATED_VIA,
        }
    )


def _table(name: str, *columns: str) -> sa.TableClause:
    return sa.table(name, *(sa.column(column) for column in columns))


_methodology_versions = _table(
    "methodology_versions", "version", "title", "description", "effective_from_cohort"
)
_models = _table("models", "id", "openrouter_id", "display_name", "provider", "color", "is_active")
_model_families = _table(
    "model_families",
    "id",
    "slug",
    "legacy_model_id",
    "provider",
    "family_name",
    "public_display_name",
    "short_display_name",
    "color",
    "status",
    "sort_order",
)
_model_releases = _table(
    "model_releases",
    "id",
    "family_id",
    "release_name",
    "release_slug",
    "openrouter_id",
    "provider",
    "metadata_json",
    "release_status",
)
_benchmark_configs = _table(
    "benchmark_configs",
    "id",
    "version_name",
    "methodology_version",
    "notes",
    "created_by",
    "is_default_for_future_cohorts",
)
_benchmark_config_models = _table(
    "benchmark_config_models",
    "id",
    "benchmark_config_id",
    "family_id",
    "release_id",
    "slot_order",
    "family_display_name_snapshot",
    "short_display_name_snapshot",
    "release_display_name_snapshot",
    "provider_snapshot",
    "color_snapshot",
    "openrouter_id_snapshot",
    "input_price_per_million_snapshot",
    "output_price_per_million_snapshot",
)


def seed_catalog(connection: Connection) -> None:
    """Insert the starting catalog where absent and refresh the methodology texts.

    Rows that already exist are left alone (an admin may have paused a family or promoted
    another lineup), so running this again changes nothing."""
    insert = _dialect_insert(connection)

    methodology_rows = [
        {
            "version": m.version,
            "title": m.title,
            "description": m.description,
            "effective_from_cohort": m.effective_from_cohort,
        }
        for m in METHODOLOGIES
    ]
    statement = insert(_methodology_versions).values(methodology_rows)
    connection.execute(
        statement.on_conflict_do_update(
            index_elements=["version"],
            set_={
                "title": statement.excluded.title,
                "description": statement.excluded.description,
                "effective_from_cohort": statement.excluded.effective_from_cohort,
            },
        )
    )

    _insert_absent(connection, insert, _models, "id", [_legacy_model_row(f) for f in FAMILIES])
    _insert_absent(connection, insert, _model_families, "id", [_family_row(f) for f in FAMILIES])
    _insert_absent(connection, insert, _model_releases, "id", [_release_row(f) for f in FAMILIES])
    _insert_absent(
        connection,
        insert,
        _benchmark_configs,
        "id",
        [
            {
                "id": DEFAULT_CONFIG_ID,
                "version_name": DEFAULT_CONFIG_ID,
                "methodology_version": DEFAULT_CONFIG_METHODOLOGY,
                "notes": DEFAULT_CONFIG_NOTES,
                "created_by": SEED_CREATED_BY,
                "is_default_for_future_cohorts": 1,
            }
        ],
    )
    _insert_absent(
        connection,
        insert,
        _benchmark_config_models,
        "id",
        [_slot_row(DEFAULT_CONFIG_ID, f) for f in FAMILIES],
    )


def _dialect_insert(connection: Connection) -> Any:
    name = connection.dialect.name
    if name == "sqlite":
        return sqlite.insert
    if name == "postgresql":
        return postgresql.insert
    raise RuntimeError(f"The arena catalog seed supports SQLite and PostgreSQL, not {name}")


def _insert_absent(
    connection: Connection,
    insert: Any,
    table: sa.TableClause,
    key: str,
    rows: Sequence[Mapping[str, Any]],
) -> None:
    connection.execute(
        insert(table).values(list(rows)).on_conflict_do_nothing(index_elements=[key])
    )


def _legacy_model_row(family: SeedFamily) -> dict[str, Any]:
    return {
        "id": family.legacy_model_id,
        "openrouter_id": family.openrouter_id,
        "display_name": family.release_name,
        "provider": family.provider,
        "color": family.color,
        "is_active": 1,
    }


def _family_row(family: SeedFamily) -> dict[str, Any]:
    return {
        "id": family.id,
        "slug": family.id,
        "legacy_model_id": family.legacy_model_id,
        "provider": family.provider,
        "family_name": family.family_name,
        "public_display_name": family.display_name,
        "short_display_name": family.display_name,
        "color": family.color,
        "status": "active",
        "sort_order": family.sort_order,
    }


def _release_row(family: SeedFamily) -> dict[str, Any]:
    return {
        "id": family.release_id,
        "family_id": family.id,
        "release_name": family.release_name,
        "release_slug": family.release_slug,
        "openrouter_id": family.openrouter_id,
        "provider": family.provider,
        "metadata_json": release_metadata(family),
        "release_status": "active",
    }


def _slot_row(config_id: str, family: SeedFamily) -> dict[str, Any]:
    return {
        "id": slot_id(config_id, family.id),
        "benchmark_config_id": config_id,
        "family_id": family.id,
        "release_id": family.release_id,
        "slot_order": family.sort_order,
        "family_display_name_snapshot": family.display_name,
        "short_display_name_snapshot": family.display_name,
        "release_display_name_snapshot": family.release_name,
        "provider_snapshot": family.provider,
        "color_snapshot": family.color,
        "openrouter_id_snapshot": family.openrouter_id,
        "input_price_per_million_snapshot": family.input_price_per_million,
        "output_price_per_million_snapshot": family.output_price_per_million,
    }
