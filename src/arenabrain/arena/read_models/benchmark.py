"""The admin's view of the benchmark (§12.3, `GET /api/admin/benchmark`): the families with
their releases and current slot, the recent configs, the default config and the latest lineup
review."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from arenabrain.arena.benchmark import RECENT_CONFIGS, config_slots, default_config, release_json
from arenabrain.arena.lineup import latest_review_summary
from arenabrain.arena.models import Agent, BenchmarkConfig, Cohort, ModelFamily, ModelRelease
from arenabrain.arena.wire import iso, row_dict
from arenabrain.context import Context


async def benchmark_overview(ctx: Context) -> dict[str, Any]:
    """Families with their releases and current slot, recent configs, the latest review."""
    async with ctx.db.read() as session:
        default = await default_config(session)
        default_slots = {
            slot.family_id: slot
            for slot in (await config_slots(session, default.id) if default else [])
        }
        families = (
            await session.scalars(select(ModelFamily).order_by(ModelFamily.sort_order))
        ).all()
        releases = (
            await session.scalars(
                select(ModelRelease).order_by(ModelRelease.created_at.desc(), ModelRelease.id)
            )
        ).all()
        configs = (
            await session.scalars(
                select(BenchmarkConfig)
                .order_by(
                    BenchmarkConfig.is_default_for_future_cohorts.desc(),
                    BenchmarkConfig.created_at.desc(),
                    BenchmarkConfig.id.desc(),
                )
                .limit(RECENT_CONFIGS)
            )
        ).all()
        slots_by_config = {config.id: await config_slots(session, config.id) for config in configs}
        active_cohorts = await session.scalar(
            select(func.count())
            .select_from(Cohort)
            .where(Cohort.status == "active", Cohort.is_archived == 0)
        )
        active_agents = await session.scalar(
            select(func.count())
            .select_from(Agent)
            .join(Cohort, Cohort.id == Agent.cohort_id)
            .where(Cohort.status == "active", Cohort.is_archived == 0)
        )
        latest = await latest_review_summary(session)
    family_by_id = {family.id: family for family in families}
    family_rows = []
    for family in families:
        slot = default_slots.get(family.id)
        own = [r for r in releases if r.family_id == family.id]
        family_rows.append(
            {
                **row_dict(family),
                "current_release_id": slot.release_id if slot else None,
                "current_release_name": slot.release_display_name_snapshot if slot else None,
                "current_openrouter_id": slot.openrouter_id_snapshot if slot else None,
                "current_input_price_per_million": (
                    slot.input_price_per_million_snapshot if slot else None
                ),
                "current_output_price_per_million": (
                    slot.output_price_per_million_snapshot if slot else None
                ),
                "releases": [
                    release_json(
                        r,
                        (
                            slot.input_price_per_million_snapshot,
                            slot.output_price_per_million_snapshot,
                        )
                        if slot and slot.release_id == r.id
                        else None,
                    )
                    for r in own
                ],
            }
        )
    config_rows = []
    for config in configs:
        models = []
        for slot in slots_by_config[config.id]:
            owner = family_by_id.get(slot.family_id)
            models.append(
                {
                    **row_dict(slot),
                    "family_slug": owner.slug if owner else None,
                    "legacy_model_id": owner.legacy_model_id if owner else None,
                }
            )
        config_rows.append({**row_dict(config), "models": models})
    return {
        "default_config_id": default.id if default else None,
        "active_cohort_count": active_cohorts or 0,
        "active_agent_count": active_agents or 0,
        "latest_review": latest,
        "families": family_rows,
        "configs": config_rows,
        "updated_at": iso(ctx.clock.now()),
    }
