"""Benchmark identity (§3): model families, their exact releases, lineup configs with frozen
slots, and the default config future cohorts start with; plus the admin control plane over
them (§12.3), with the anchor's exact validation messages.

Rules kept here: a config covers every active family exactly once; a release must belong to
its slot's family and must not be retired; promoting a config changes the lineup of future
cohorts only (cohorts are pinned to their config, agents hold frozen copies of its slots), and
rolling running cohorts over to another lineup is refused."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import case, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from arenabrain.arena.models import (
    Agent,
    BenchmarkConfig,
    BenchmarkConfigModel,
    Cohort,
    MethodologyVersion,
    ModelFamily,
    ModelRelease,
)
from arenabrain.arena.schemas.admin import AssignmentIn, ConfigIn, PromoteIn, ReleaseIn, RolloverIn
from arenabrain.arena.system_logs import log_event
from arenabrain.arena.wire import row_dict
from arenabrain.context import Context
from arenabrain.db.ids import new_id
from arenabrain.errors import AppError, Conflict, NotFound

DEFAULT_METHODOLOGY = "v2"
RECENT_CONFIGS = 12
ROLLOVER_DISABLED = "Active cohort rollover is disabled; promote defaults for future cohorts only."


# --- pure helpers ---------------------------------------------------------------------------


def slugify(text: str) -> str:
    """Lower-case, runs of anything but `[a-z0-9]` become `-`, trimmed, at most 64 characters;
    `release` when nothing is left."""
    slug = re.sub(r"[^a-z0-9]+", "-", text.strip().lower()).strip("-")[:64]
    return slug or "release"


def non_negative(value: Any) -> float | None:
    """A finite number >= 0 from a JSON number or numeric string, else None."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, str):
        try:
            value = float(value.strip())
        except ValueError:
            return None
    if not isinstance(value, int | float):
        return None
    number = float(value)
    return number if math.isfinite(number) and number >= 0 else None


def _text(value: str | None) -> str | None:
    """A field's text without surrounding blanks; None when missing or blank."""
    if value is not None and value.strip():
        return value.strip()
    return None


def release_metadata(release: ModelRelease) -> dict[str, Any]:
    try:
        data = json.loads(release.metadata_json or "{}")
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


# --- queries --------------------------------------------------------------------------------


async def default_config(session: AsyncSession) -> BenchmarkConfig | None:
    """The config flagged for future cohorts (the newest one if several are flagged)."""
    return (
        await session.scalars(
            select(BenchmarkConfig)
            .where(BenchmarkConfig.is_default_for_future_cohorts == 1)
            .order_by(BenchmarkConfig.created_at.desc())
            .limit(1)
        )
    ).first()


async def config_slots(session: AsyncSession, config_id: str) -> list[BenchmarkConfigModel]:
    """The frozen slots of a config in lineup order."""
    return list(
        (
            await session.scalars(
                select(BenchmarkConfigModel)
                .where(BenchmarkConfigModel.benchmark_config_id == config_id)
                .order_by(
                    BenchmarkConfigModel.slot_order,
                    BenchmarkConfigModel.family_display_name_snapshot,
                )
            )
        ).all()
    )


async def active_families(session: AsyncSession) -> list[ModelFamily]:
    return list(
        (
            await session.scalars(
                select(ModelFamily)
                .where(ModelFamily.status == "active")
                .order_by(ModelFamily.sort_order, ModelFamily.id)
            )
        ).all()
    )


async def missing_families(session: AsyncSession, config_id: str) -> list[ModelFamily]:
    """Active families the config has no slot for."""
    covered = {slot.family_id for slot in await config_slots(session, config_id)}
    return [family for family in await active_families(session) if family.id not in covered]


async def resolve_family(session: AsyncSession, key: str) -> ModelFamily | None:
    """A family by id, then slug, then legacy model id."""
    for column in (ModelFamily.id, ModelFamily.slug, ModelFamily.legacy_model_id):
        found = (await session.scalars(select(ModelFamily).where(column == key))).first()
        if found is not None:
            return found
    return None


async def set_default(session: AsyncSession, config_id: str) -> None:
    """Flag exactly this config as the default for future cohorts."""
    await session.execute(
        update(BenchmarkConfig).values(
            is_default_for_future_cohorts=case((BenchmarkConfig.id == config_id, 1), else_=0)
        )
    )


@dataclass(frozen=True)
class Assignment:
    family: ModelFamily
    release: ModelRelease
    input_price_per_million: float
    output_price_per_million: float


async def build_config(
    session: AsyncSession,
    *,
    version_name: str,
    methodology_version: str,
    notes: str | None,
    created_by: str,
    assignments: Sequence[Assignment],
    now: datetime,
) -> tuple[BenchmarkConfig, list[BenchmarkConfigModel]]:
    """Insert a (non-default) config and one slot per assignment, in family sort order with
    slot_order 0..n-1, snapshotting names, provider, colour, OpenRouter id and prices."""
    config = BenchmarkConfig(
        id=new_id(now),
        version_name=version_name,
        methodology_version=methodology_version,
        notes=notes,
        created_by=created_by,
        is_default_for_future_cohorts=0,
        created_at=now,
    )
    session.add(config)
    ordered = sorted(assignments, key=lambda a: (a.family.sort_order, a.family.id))
    slots = [
        BenchmarkConfigModel(
            id=new_id(now),
            benchmark_config_id=config.id,
            family_id=a.family.id,
            release_id=a.release.id,
            slot_order=index,
            family_display_name_snapshot=a.family.public_display_name,
            short_display_name_snapshot=a.family.short_display_name,
            release_display_name_snapshot=a.release.release_name,
            provider_snapshot=a.release.provider,
            color_snapshot=a.family.color,
            openrouter_id_snapshot=a.release.openrouter_id,
            input_price_per_million_snapshot=a.input_price_per_million,
            output_price_per_million_snapshot=a.output_price_per_million,
            created_at=now,
        )
        for index, a in enumerate(ordered)
    ]
    await session.flush()  # the config row first: slots reference it
    session.add_all(slots)
    await session.flush()
    return config, slots


async def insert_release(
    session: AsyncSession,
    family: ModelFamily,
    *,
    release_name: str,
    release_slug: str,
    openrouter_id: str,
    metadata: Mapping[str, Any],
    now: datetime,
) -> ModelRelease:
    release = ModelRelease(
        id=f"{family.id}--{release_slug}",
        family_id=family.id,
        release_name=release_name,
        release_slug=release_slug,
        openrouter_id=openrouter_id,
        provider=family.provider,
        metadata_json=json.dumps(dict(metadata)),
        release_status="active",
        created_at=now,
    )
    session.add(release)
    await session.flush()
    return release


# --- serialisation --------------------------------------------------------------------------


def release_json(
    release: ModelRelease, fallback_prices: tuple[float, float] | None = None
) -> dict[str, Any]:
    """A release row plus its default prices (metadata first) and parsed metadata."""
    metadata = release_metadata(release)
    prices = (
        metadata.get("default_input_price_per_million"),
        metadata.get("default_output_price_per_million"),
    )
    if non_negative(prices[0]) is None or non_negative(prices[1]) is None:
        prices = fallback_prices or (0.0, 0.0)
    return {
        **row_dict(release),
        "default_input_price_per_million": prices[0],
        "default_output_price_per_million": prices[1],
        "metadata": metadata,
    }


def config_json(config: BenchmarkConfig, slots: Sequence[BenchmarkConfigModel]) -> dict[str, Any]:
    return {**row_dict(config), "models": [row_dict(slot) for slot in slots]}


# --- admin: releases ------------------------------------------------------------------------


async def create_release(ctx: Context, body: ReleaseIn) -> dict[str, Any]:
    """Register an exact OpenRouter release under an existing family."""
    family_id = _text(body.family_id)
    release_name = _text(body.release_name)
    openrouter_id = _text(body.openrouter_id)
    if family_id is None:
        raise AppError("Model family is required")
    if release_name is None:
        raise AppError("Release name is required")
    if openrouter_id is None:
        raise AppError("OpenRouter model ID is required")
    input_price = non_negative(body.default_input_price_per_million)
    if input_price is None:
        raise AppError("Input price must be a non-negative number")
    output_price = non_negative(body.default_output_price_per_million)
    if output_price is None:
        raise AppError("Output price must be a non-negative number")
    slug = slugify(_text(body.release_slug) or release_name)
    notes = body.notes
    now = ctx.clock.now()
    async with ctx.db.write() as session:
        family = await session.get(ModelFamily, family_id)
        if family is None:
            raise NotFound("Unknown model family")
        siblings = (
            await session.scalars(select(ModelRelease).where(ModelRelease.family_id == family_id))
        ).all()
        if any(r.release_slug == slug or r.id == f"{family_id}--{slug}" for r in siblings):
            raise Conflict("A release with that slug already exists for this family")
        if any(r.openrouter_id == openrouter_id for r in siblings):
            raise Conflict("A release with that OpenRouter ID already exists for this family")
        release = await insert_release(
            session,
            family,
            release_name=release_name,
            release_slug=slug,
            openrouter_id=openrouter_id,
            metadata={
                "notes": notes,
                "default_input_price_per_million": input_price,
                "default_output_price_per_million": output_price,
                "created_via": "admin",
            },
            now=now,
        )
        await log_event(
            session,
            "admin_benchmark_release_created",
            {
                "family_id": family_id,
                "release_id": release.id,
                "release_name": release_name,
                "openrouter_id": openrouter_id,
            },
            "info",
            now,
        )
        return {"success": True, "release": release_json(release)}


# --- admin: configs -------------------------------------------------------------------------


async def _assignments(
    session: AsyncSession, requested: Sequence[AssignmentIn] | None
) -> list[Assignment]:
    """Validate the requested lineup against the catalog (messages of §12.3)."""
    if not requested:
        raise AppError("At least one lineup assignment is required")
    active = {family.id: family for family in await active_families(session)}
    chosen: dict[str, Assignment] = {}
    for item in requested:
        family_id = _text(item.family_id)
        release_id = _text(item.release_id)
        if family_id is None:
            raise AppError("Lineup assignment family is required")
        if release_id is None:
            raise AppError("Lineup assignment release is required")
        family = active.get(family_id)
        if family is None:
            raise AppError(f"Unknown or inactive model family: {family_id}")
        if family_id in chosen:
            raise AppError(f"Duplicate lineup assignment for family: {family_id}")
        input_price = non_negative(item.input_price_per_million)
        if input_price is None:
            raise AppError(f"Invalid input price for family: {family_id}")
        output_price = non_negative(item.output_price_per_million)
        if output_price is None:
            raise AppError(f"Invalid output price for family: {family_id}")
        release = await session.get(ModelRelease, release_id)
        if release is None:
            raise AppError(f"Unknown model release: {release_id}")
        if release.family_id != family_id:
            raise AppError(f"Release {release_id} does not belong to family {family_id}")
        if release.release_status == "retired":
            raise AppError(
                f"Release {release.release_name} is retired and cannot be used in a new config"
            )
        chosen[family_id] = Assignment(family, release, input_price, output_price)
    missing = [family for family_id, family in active.items() if family_id not in chosen]
    if missing:
        names = ", ".join(family.public_display_name for family in missing)
        raise AppError(f"Missing lineup assignments for active families: {names}")
    return list(chosen.values())


async def create_config(ctx: Context, body: ConfigIn) -> dict[str, Any]:
    """Create a complete lineup config (not the default; promote it separately)."""
    version_name = _text(body.version_name)
    if version_name is None:
        raise AppError("Version name is required")
    methodology = _text(body.methodology_version) or DEFAULT_METHODOLOGY
    notes = body.notes
    now = ctx.clock.now()
    async with ctx.db.write() as session:
        assignments = await _assignments(session, body.assignments)
        if await session.get(MethodologyVersion, methodology) is None:
            raise AppError(f"Unknown methodology version: {methodology}")
        taken = await session.scalar(
            select(BenchmarkConfig.id).where(BenchmarkConfig.version_name == version_name)
        )
        if taken is not None:
            raise Conflict("A benchmark config with that version name already exists")
        config, slots = await build_config(
            session,
            version_name=version_name,
            methodology_version=methodology,
            notes=notes,
            created_by="admin",
            assignments=assignments,
            now=now,
        )
        await log_event(
            session,
            "admin_benchmark_config_created",
            {
                "benchmark_config_id": config.id,
                "version_name": version_name,
                "family_count": len(slots),
            },
            "info",
            now,
        )
        return {"success": True, "config": config_json(config, slots)}


async def promote_config(ctx: Context, body: PromoteIn) -> dict[str, Any]:
    """Make a complete config the default for future cohorts (running cohorts keep theirs)."""
    config_id = _text(body.config_id)
    if config_id is None:
        raise AppError("Benchmark config is required")
    now = ctx.clock.now()
    async with ctx.db.write() as session:
        config = await session.get(BenchmarkConfig, config_id)
        if config is None:
            raise NotFound("Unknown benchmark config")
        missing = await missing_families(session, config_id)
        if missing:
            names = ", ".join(family.public_display_name for family in missing)
            raise AppError(f"Cannot promote an incomplete config. Missing families: {names}")
        await set_default(session, config_id)
        await log_event(
            session,
            "admin_benchmark_config_promoted",
            {"benchmark_config_id": config_id, "version_name": config.version_name},
            "info",
            now,
        )
        return {"success": True, "config_id": config_id, "version_name": config.version_name}


async def preview_rollover(ctx: Context, body: RolloverIn) -> dict[str, Any]:
    """What moving running cohorts to a config would change; applying it is refused."""
    if body.apply:
        raise AppError(ROLLOVER_DISABLED)
    config_id = _text(body.config_id)
    if config_id is None:
        raise AppError("Benchmark config is required")
    async with ctx.db.read() as session:
        config = await session.get(BenchmarkConfig, config_id)
        if config is None:
            raise NotFound("Unknown benchmark config")
        target = {slot.family_id: slot for slot in await config_slots(session, config_id)}
        cohorts = (
            await session.scalars(
                select(Cohort).where(Cohort.status == "active", Cohort.is_archived == 0)
            )
        ).all()
        agents = (
            await session.scalars(select(Agent).where(Agent.cohort_id.in_([c.id for c in cohorts])))
        ).all()
        releases = {r.id: r for r in (await session.scalars(select(ModelRelease))).all()}
        families = {f.id: f for f in (await session.scalars(select(ModelFamily))).all()}
    impacted_agents: dict[str, list[Agent]] = {}
    for agent in agents:
        slot = target.get(agent.family_id)
        if slot is not None and (
            slot.release_id != agent.release_id or slot.id != agent.benchmark_config_model_id
        ):
            impacted_agents.setdefault(agent.family_id, []).append(agent)
    impacted_cohort_ids = {c.id for c in cohorts if c.benchmark_config_id != config_id} | {
        a.cohort_id for group in impacted_agents.values() for a in group
    }
    changes = []
    for family_id, group in impacted_agents.items():
        release_names = sorted({_release_name(releases, a.release_id) for a in group})
        family = families.get(family_id)
        changes.append(
            {
                "family_id": family_id,
                "family_name": family.public_display_name if family else family_id,
                "from_release_name": ", ".join(release_names),
                "to_release_name": target[family_id].release_display_name_snapshot,
                "affected_agents": len(group),
            }
        )
    return {
        "config_id": config_id,
        "version_name": config.version_name,
        "active_cohorts": len(cohorts),
        "active_agents": len(agents),
        "impacted_cohorts": len(impacted_cohort_ids),
        "impacted_agents": sum(len(group) for group in impacted_agents.values()),
        "family_changes": changes,
    }


def _release_name(releases: Mapping[str, ModelRelease], release_id: str) -> str:
    found = releases.get(release_id)
    return found.release_name if found else release_id
