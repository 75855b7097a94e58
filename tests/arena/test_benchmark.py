"""The admin benchmark control plane over HTTP: releases, configs, promotion and rollover, with
the anchor's exact messages; bad input changes nothing; promotion reaches future cohorts only."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from arenabrain.arena import benchmark
from arenabrain.arena.models import (
    Agent,
    BenchmarkConfig,
    BenchmarkConfigModel,
    Cohort,
    ModelRelease,
    SystemLog,
)
from arenabrain.arena.seed import DEFAULT_CONFIG_ID, FAMILIES
from arenabrain.clock import FrozenClock
from arenabrain.context import Context
from arenabrain.settings import Settings
from tests.conftest import ADMIN_PASSWORD, cron_headers

NO_STORE = "no-store, no-cache, must-revalidate"


@pytest.fixture
async def admin(make_client: Any, settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    async with make_client(settings) as http:
        login = await http.post("/api/admin/login", json={"password": ADMIN_PASSWORD})
        assert login.status_code == 200
        yield http


def ctx_of(http: httpx.AsyncClient) -> Context:
    app = http._transport.app  # type: ignore[attr-defined]
    return app.state.ctx  # type: ignore[no-any-return]


async def counts(http: httpx.AsyncClient) -> tuple[int, ...]:
    found = []
    async with ctx_of(http).db.read() as session:
        for model in (ModelRelease, BenchmarkConfig, BenchmarkConfigModel, Cohort, Agent):
            found.append((await session.scalar(select(func.count()).select_from(model))) or 0)
    return tuple(found)


def full_lineup(**overrides: Any) -> list[dict[str, Any]]:
    rows = []
    for family in FAMILIES:
        row = {
            "family_id": family.id,
            "release_id": family.release_id,
            "input_price_per_million": family.input_price_per_million,
            "output_price_per_million": family.output_price_per_million,
        }
        row.update(overrides.get(family.id, {}))
        rows.append(row)
    return rows


GOOD_RELEASE = {
    "family_id": "openai-gpt",
    "release_name": "GPT-5.6",
    "openrouter_id": "openai/gpt-5.6",
    "default_input_price_per_million": 6,
    "default_output_price_per_million": "18",
    "notes": "newer",
}


# --- releases ---------------------------------------------------------------------------------


async def test_create_release(admin: httpx.AsyncClient) -> None:
    response = await admin.post("/api/admin/benchmark/releases", json=GOOD_RELEASE)
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == NO_STORE
    release = response.json()["release"]
    assert response.json()["success"] is True
    assert release["id"] == "openai-gpt--gpt-5-6"
    assert release["release_slug"] == "gpt-5-6"
    assert release["provider"] == "OpenAI"
    assert (
        release["default_input_price_per_million"],
        release["default_output_price_per_million"],
    ) == (6.0, 18.0)
    assert release["metadata"]["created_via"] == "admin"


RELEASE_ERRORS = [
    ({**GOOD_RELEASE, "family_id": ""}, 400, "Model family is required"),
    ({**GOOD_RELEASE, "release_name": None}, 400, "Release name is required"),
    ({**GOOD_RELEASE, "openrouter_id": "  "}, 400, "OpenRouter model ID is required"),
    (
        {**GOOD_RELEASE, "default_input_price_per_million": -1},
        400,
        "Input price must be a non-negative number",
    ),
    (
        {**GOOD_RELEASE, "default_input_price_per_million": True},
        400,
        "Input price must be a non-negative number",
    ),
    (
        {**GOOD_RELEASE, "default_output_price_per_million": "abc"},
        400,
        "Output price must be a non-negative number",
    ),
    ({**GOOD_RELEASE, "family_id": "nope"}, 404, "Unknown model family"),
    (
        {**GOOD_RELEASE, "release_name": "Existing!"},
        409,
        "A release with that slug already exists for this family",
    ),
    (
        {**GOOD_RELEASE, "openrouter_id": "openai/existing"},
        409,
        "A release with that OpenRouter ID already exists for this family",
    ),
    (
        {**GOOD_RELEASE, "openrouter_id": "openai/gpt-5.5"},
        409,
        "A release with that OpenRouter ID already exists for this family",
    ),
]


@pytest.mark.parametrize(("body", "status", "message"), RELEASE_ERRORS)
async def test_release_validation(
    admin: httpx.AsyncClient, body: dict[str, Any], status: int, message: str
) -> None:
    existing = {**GOOD_RELEASE, "release_name": "Existing", "openrouter_id": "openai/existing"}
    assert (await admin.post("/api/admin/benchmark/releases", json=existing)).status_code == 200
    before = await counts(admin)
    response = await admin.post("/api/admin/benchmark/releases", json=body)
    assert (response.status_code, response.json()["error"]) == (status, message)
    assert response.headers["cache-control"] == NO_STORE
    assert await counts(admin) == before


async def test_malformed_bodies_read_as_empty_objects(admin: httpx.AsyncClient) -> None:
    for content in (b"not json", b"[1, 2]"):
        response = await admin.post("/api/admin/benchmark/releases", content=content)
        assert (response.status_code, response.json()["error"]) == (400, "Model family is required")


# --- configs ----------------------------------------------------------------------------------


async def test_create_config_covering_every_family(admin: httpx.AsyncClient) -> None:
    await admin.post("/api/admin/benchmark/releases", json=GOOD_RELEASE)
    lineup = full_lineup(
        **{
            "openai-gpt": {
                "release_id": "openai-gpt--gpt-5-6",
                "input_price_per_million": 6,
                "output_price_per_million": 18,
            }
        }
    )
    response = await admin.post(
        "/api/admin/benchmark/configs",
        json={"version_name": "lineup-test", "notes": "n", "assignments": lineup[::-1]},
    )
    assert response.status_code == 200, response.text
    config = response.json()["config"]
    assert config["is_default_for_future_cohorts"] is False
    assert config["methodology_version"] == "v2" and config["created_by"] == "admin"
    slots = config["models"]
    assert [s["slot_order"] for s in slots] == list(range(7))
    assert [s["family_id"] for s in slots] == [f.id for f in FAMILIES]  # family sort order
    gpt = slots[0]
    assert gpt["openrouter_id_snapshot"] == "openai/gpt-5.6"
    assert gpt["release_display_name_snapshot"] == "GPT-5.6"
    assert gpt["family_display_name_snapshot"] == "GPT" and gpt["color_snapshot"] == "#10B981"
    assert (gpt["input_price_per_million_snapshot"], gpt["output_price_per_million_snapshot"]) == (
        6.0,
        18.0,
    )


CONFIG_ERRORS = [
    ({"assignments": full_lineup()}, "Version name is required"),
    ({"version_name": "v", "assignments": []}, "At least one lineup assignment is required"),
    ({"version_name": "v", "assignments": "x"}, "At least one lineup assignment is required"),
    ({"version_name": "v", "assignments": [1]}, "Lineup assignments must be objects"),
    (
        {"version_name": "v", "assignments": [{"release_id": "r"}]},
        "Lineup assignment family is required",
    ),
    (
        {"version_name": "v", "assignments": [{"family_id": "openai-gpt"}]},
        "Lineup assignment release is required",
    ),
    (
        {"version_name": "v", "assignments": [{"family_id": "zzz", "release_id": "r"}]},
        "Unknown or inactive model family: zzz",
    ),
    (
        {"version_name": "v", "assignments": [*full_lineup(), full_lineup()[0]]},
        "Duplicate lineup assignment for family: openai-gpt",
    ),
    (
        {
            "version_name": "v",
            "assignments": full_lineup(**{"xai-grok": {"input_price_per_million": -2}}),
        },
        "Invalid input price for family: xai-grok",
    ),
    (
        {
            "version_name": "v",
            "assignments": full_lineup(**{"xai-grok": {"output_price_per_million": None}}),
        },
        "Invalid output price for family: xai-grok",
    ),
    (
        {
            "version_name": "v",
            "assignments": full_lineup(**{"xai-grok": {"release_id": "openai-gpt--gpt-5.5"}}),
        },
        "Release openai-gpt--gpt-5.5 does not belong to family xai-grok",
    ),
    (
        {
            "version_name": "v",
            "assignments": full_lineup(**{"xai-grok": {"release_id": "xai-grok--nope"}}),
        },
        "Unknown model release: xai-grok--nope",
    ),
    (
        {"version_name": "v", "assignments": full_lineup()[:5]},
        "Missing lineup assignments for active families: Kimi, Qwen",
    ),
    (
        {"version_name": "v", "methodology_version": "v9", "assignments": full_lineup()},
        "Unknown methodology version: v9",
    ),
]


@pytest.mark.parametrize(("body", "message"), CONFIG_ERRORS, ids=[m for _, m in CONFIG_ERRORS])
async def test_config_validation(
    admin: httpx.AsyncClient, body: dict[str, Any], message: str
) -> None:
    before = await counts(admin)
    response = await admin.post("/api/admin/benchmark/configs", json=body)
    assert (response.status_code, response.json()["error"]) == (400, message)
    assert await counts(admin) == before


async def test_retired_release_cannot_enter_a_new_config(admin: httpx.AsyncClient) -> None:
    async with ctx_of(admin).db.write() as session:
        release = await session.get(ModelRelease, "xai-grok--grok-4.3")
        assert release is not None
        release.release_status = "retired"
    response = await admin.post(
        "/api/admin/benchmark/configs", json={"version_name": "v", "assignments": full_lineup()}
    )
    assert (
        response.json()["error"] == "Release Grok 4.3 is retired and cannot be used in a new config"
    )


async def test_duplicate_version_name_conflicts(admin: httpx.AsyncClient) -> None:
    body = {"version_name": DEFAULT_CONFIG_ID, "assignments": full_lineup()}
    response = await admin.post("/api/admin/benchmark/configs", json=body)
    assert response.status_code == 409


# --- promotion and rollover ---------------------------------------------------------------


async def test_promotion_changes_future_cohorts_only(
    admin: httpx.AsyncClient, clock: FrozenClock
) -> None:
    running = (await admin.post("/api/cron/start-cohort", headers=cron_headers())).json()
    async with ctx_of(admin).db.read() as session:
        frozen = sorted(
            (a.id, a.release_id, a.benchmark_config_model_id)
            for a in (await session.scalars(select(Agent))).all()
        )
    await admin.post("/api/admin/benchmark/releases", json=GOOD_RELEASE)
    lineup = full_lineup(**{"openai-gpt": {"release_id": "openai-gpt--gpt-5-6"}})
    created = await admin.post(
        "/api/admin/benchmark/configs", json={"version_name": "next", "assignments": lineup}
    )
    config_id = created.json()["config"]["id"]
    promoted = await admin.post("/api/admin/benchmark/default", json={"config_id": config_id})
    assert promoted.json() == {"success": True, "config_id": config_id, "version_name": "next"}
    assert promoted.headers["cache-control"] == NO_STORE
    async with ctx_of(admin).db.read() as session:
        cohort = await session.get(Cohort, running["cohort_id"])
        assert cohort is not None and cohort.benchmark_config_id == DEFAULT_CONFIG_ID
        assert (
            sorted(
                (a.id, a.release_id, a.benchmark_config_model_id)
                for a in (await session.scalars(select(Agent))).all()
            )
            == frozen
        )
        defaults = (
            await session.scalars(
                select(BenchmarkConfig.id).where(BenchmarkConfig.is_default_for_future_cohorts == 1)
            )
        ).all()
        assert defaults == [config_id]
        logged = (
            await session.scalars(
                select(SystemLog.event_type).where(SystemLog.event_type.like("admin_benchmark_%"))
            )
        ).all()
    assert sorted(logged) == [
        "admin_benchmark_config_created",
        "admin_benchmark_config_promoted",
        "admin_benchmark_release_created",
    ]
    clock.advance(days=7)
    following = (await admin.post("/api/cron/start-cohort", headers=cron_headers())).json()
    async with ctx_of(admin).db.read() as session:
        cohort = await session.get(Cohort, following["cohort_id"])
        assert cohort is not None and cohort.benchmark_config_id == config_id
        releases = (
            await session.scalars(select(Agent.release_id).where(Agent.cohort_id == cohort.id))
        ).all()
    assert "openai-gpt--gpt-5-6" in releases and "openai-gpt--gpt-5.5" not in releases


async def test_promotion_errors(admin: httpx.AsyncClient, clock: FrozenClock) -> None:
    unknown = await admin.post("/api/admin/benchmark/default", json={"config_id": "nope"})
    assert (unknown.status_code, unknown.json()["error"]) == (404, "Unknown benchmark config")
    assert unknown.headers["cache-control"] == NO_STORE
    missing = await admin.post("/api/admin/benchmark/default", json={})
    assert missing.status_code == 400
    async with ctx_of(admin).db.write() as session:
        session.add(
            BenchmarkConfig(
                id="partial",
                version_name="partial",
                methodology_version="v2",
                created_at=clock.now(),
            )
        )
        await session.flush()
        slots = (
            await session.scalars(
                select(BenchmarkConfigModel).where(
                    BenchmarkConfigModel.benchmark_config_id == DEFAULT_CONFIG_ID
                )
            )
        ).all()
        for slot in slots[:5]:
            session.add(
                BenchmarkConfigModel(
                    **{
                        c: getattr(slot, c)
                        for c in (
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
                    },
                    id=f"partial-{slot.family_id}",
                    benchmark_config_id="partial",
                )
            )
    incomplete = await admin.post("/api/admin/benchmark/default", json={"config_id": "partial"})
    assert (incomplete.status_code, incomplete.json()["error"]) == (
        400,
        "Cannot promote an incomplete config. Missing families: Kimi, Qwen",
    )
    async with ctx_of(admin).db.read() as session:
        default = await benchmark.default_config(session)
    assert default is not None and default.id == DEFAULT_CONFIG_ID


async def test_rollover_is_a_preview_only(admin: httpx.AsyncClient) -> None:
    await admin.post("/api/cron/start-cohort", headers=cron_headers())
    preview = await admin.post(
        "/api/admin/benchmark/rollover", json={"config_id": DEFAULT_CONFIG_ID}
    )
    assert preview.status_code == 200 and preview.headers["cache-control"] == NO_STORE
    assert preview.json() == {
        "config_id": DEFAULT_CONFIG_ID,
        "version_name": DEFAULT_CONFIG_ID,
        "active_cohorts": 1,
        "active_agents": 7,
        "impacted_cohorts": 0,
        "impacted_agents": 0,
        "family_changes": [],
    }
    applied = await admin.post(
        "/api/admin/benchmark/rollover", json={"config_id": DEFAULT_CONFIG_ID, "apply": True}
    )
    assert (applied.status_code, applied.json()["error"]) == (
        400,
        "Active cohort rollover is disabled; promote defaults for future cohorts only.",
    )
    unknown = await admin.post("/api/admin/benchmark/rollover", json={"config_id": "x"})
    assert (unknown.status_code, unknown.json()["error"]) == (404, "Unknown benchmark config")


async def test_overview(admin: httpx.AsyncClient) -> None:
    await admin.post("/api/cron/start-cohort", headers=cron_headers())
    response = await admin.get("/api/admin/benchmark")
    assert response.status_code == 200 and response.headers["pragma"] == "no-cache"
    body = response.json()
    assert body["default_config_id"] == DEFAULT_CONFIG_ID
    assert (body["active_cohort_count"], body["active_agent_count"]) == (1, 7)
    assert body["latest_review"] is None
    gpt = body["families"][0]
    assert gpt["id"] == "openai-gpt" and gpt["current_release_name"] == "GPT-5.5"
    assert gpt["current_input_price_per_million"] == 5.0
    assert gpt["releases"][0]["default_output_price_per_million"] == 30.0
    assert body["configs"][0]["id"] == DEFAULT_CONFIG_ID
    assert body["configs"][0]["models"][0]["family_slug"] == "openai-gpt"


def test_slugify() -> None:
    assert benchmark.slugify("  GPT-5.6 Pro (beta) ") == "gpt-5-6-pro-beta"
    assert benchmark.slugify("!!!") == "release"
    assert len(benchmark.slugify("x" * 100)) == 64
