"""The lineup review: version reading, family rules, the verdict per family, the stored review,
and an admin's approval or dismissal. Nothing is ever promoted by the review itself."""

from __future__ import annotations

import json
from typing import Any

import pytest
from sqlalchemy import func, select

from arenabrain.arena import cohorts, lineup
from arenabrain.arena.benchmark import config_slots, default_config
from arenabrain.arena.lineup import (
    FAMILY_RULES,
    CurrentSlot,
    compare_versions,
    is_general_purpose,
    price_per_million,
    review_family,
    version_parts,
)
from arenabrain.arena.models import (
    Agent,
    BenchmarkConfig,
    Cohort,
    ModelLineupReview,
    ModelRelease,
    SystemLog,
)
from arenabrain.arena.seed import DEFAULT_CONFIG_ID
from arenabrain.clock import FrozenClock
from arenabrain.context import Context
from arenabrain.errors import AppError
from arenabrain.sandbox import Sandbox
from arenabrain.sandbox.catalog import VISION, default_catalog, model, seed_openrouter_catalog
from arenabrain.sandbox.openrouter import openrouter_state

GPT = CurrentSlot("openai-gpt--gpt-5.5", "GPT-5.5", "openai/gpt-5.5")
OPUS = CurrentSlot(
    "anthropic-claude-opus--claude-opus-4.7", "Claude Opus 4.7", "anthropic/claude-opus-4.7"
)


# --- pure parts -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "parts"),
    [
        ("openai/gpt-5.5", (5, 5)),
        ("qwen/qwen3.6-max-preview", (3, 6)),
        ("moonshotai/kimi-k2.6", (2, 6)),
        ("deepseek/deepseek-v4-pro", (4,)),
        ("x-ai/grok-4.10", (4, 10)),  # two-digit minor versions count (the anchor lost them)
        ("openai/gpt-4o-2024-08-06", (4,)),  # date stamps are not versions
        ("anthropic/claude-3.5-sonnet-20241022", (3, 5)),
        ("deepseek/deepseek-r1-0528", (1,)),  # MMDD suffix removed
        ("meta-llama/llama-5-70b", (5, 70)),
        ("Qwen3 Max 2026", (3,)),
        ("no numbers", ()),
    ],
)
def test_version_parts(text: str, parts: tuple[int, ...]) -> None:
    assert version_parts(text) == parts


def test_compare_versions_pads_with_zeros() -> None:
    assert compare_versions((5, 6), (5, 5)) == 1
    assert compare_versions((5,), (5, 0)) == 0
    assert compare_versions((4, 10), (4, 9)) == 1
    assert compare_versions((2, 6), (3,)) == -1


@pytest.mark.parametrize(
    ("family", "entry", "expected"),
    [
        ("openai-gpt", model("openai/gpt-5.6", "OpenAI: GPT-5.6", "1", "1", VISION), True),
        ("openai-gpt", model("openai/gpt-5.7-codex", "OpenAI: GPT-5.7 Codex", "1", "1"), False),
        ("openai-gpt", model("openai/gpt-5.8-mini", "OpenAI: GPT-5.8 Mini", "1", "1"), False),
        ("openai-gpt", model("openai/gpt-oss-200b", "OpenAI: gpt-oss", "1", "1"), False),
        ("openai-gpt", model("openai/gpt-6-image", "OpenAI: GPT-6 Image", "1", "1"), False),
        ("openai-gpt", model("anthropic/gpt-9", "Not OpenAI", "1", "1"), False),
        ("google-gemini", model("google/gemini-3.5-flash", "Gemini Flash", "1", "1"), False),
        ("alibaba-qwen", model("qwen/qwen3.7-max:free", "Qwen3.7 Max (free)", "0", "0"), False),
        ("alibaba-qwen", model("qwen/qwen3.7-plus", "Qwen3.7 Plus", "1", "1"), False),
        ("alibaba-qwen", model("qwen/qwen3.7-max", "Qwen: Qwen3.7 Max", "1", "1"), True),
        ("anthropic-claude-opus", model("anthropic/claude-sonnet-5", "Sonnet", "1", "1"), False),
    ],
)
def test_family_rules(family: str, entry: dict[str, Any], expected: bool) -> None:
    assert is_general_purpose(entry, FAMILY_RULES[family]) is expected


def test_a_model_that_accepts_images_is_not_a_specialised_variant() -> None:
    """§20 item 8: the anchor searched the architecture JSON and so excluded every
    `text+image->text` model as an "image" variant."""
    multimodal = {
        "id": "anthropic/claude-opus-4.8",
        "name": "Anthropic: Claude Opus 4.8",
        "architecture": {
            "modality": "text+image+audio->text",
            "input_modalities": ["text", "image", "audio", "file"],
            "output_modalities": ["text"],
        },
        "pricing": {"prompt": "0.000005", "completion": "0.000025"},
    }
    assert is_general_purpose(multimodal, FAMILY_RULES["anthropic-claude-opus"])
    as_string = {**multimodal, "architecture": "text+image->text"}
    assert is_general_purpose(as_string, FAMILY_RULES["anthropic-claude-opus"])
    generator = {**multimodal, "architecture": {"output_modalities": ["image"]}}
    assert not is_general_purpose(generator, FAMILY_RULES["anthropic-claude-opus"])
    verdict = review_family("anthropic-claude-opus", "Claude", OPUS, [multimodal])
    assert verdict["decision"] == "upgrade"
    assert verdict["candidate_name"] == "Claude Opus 4.8"
    assert (verdict["input_price_per_million"], verdict["output_price_per_million"]) == (5.0, 25.0)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("0.000006", 6.0),
        ("0.0000003", 0.3),
        (0.000018, 18.0),
        ("6", 6.0),
        ("0", 0.0),
        ("-1", None),
        (None, None),
        ("x", None),
    ],
)
def test_price_per_million(value: Any, expected: float | None) -> None:
    assert price_per_million(value) == expected


def test_verdicts() -> None:
    newer = model("openai/gpt-5.6", "OpenAI: GPT-5.6", "0.000006", "0.000018")
    same = model("openai/gpt-5.5", "OpenAI: GPT-5.5", "0.000005", "0.00003")
    assert review_family("openai-gpt", "GPT", GPT, [same])["decision"] == "unchanged"
    upgrade = review_family("openai-gpt", "GPT", GPT, [same, newer])
    assert upgrade["decision"] == "upgrade"
    assert upgrade["candidate_openrouter_id"] == "openai/gpt-5.6"
    assert upgrade["reason"] == "Newer general-purpose OpenRouter release matched the family rules"
    twin = model("openai/gpt-5.6-pro", "OpenAI: GPT-5.6 Pro", "0.00002", "0.0001")
    tie = review_family("openai-gpt", "GPT", GPT, [newer, twin])
    assert tie["decision"] == "needs_review"
    assert tie["reason"] == (
        "Multiple newer candidates share the top version: openai/gpt-5.6, openai/gpt-5.6-pro"
    )
    unpriced = {**newer, "pricing": {"prompt": "0.000006"}}
    assert review_family("openai-gpt", "GPT", GPT, [unpriced])["decision"] == "needs_review"
    newest = model("openai/gpt-6", "OpenAI: GPT-6", "0.00001", "0.00004")
    assert review_family("openai-gpt", "GPT", GPT, [newer, newest])["candidate_name"] == "GPT-6"
    missing = review_family("openai-gpt", "GPT", None, [newer])
    assert (missing["decision"], missing["reason"]) == (
        "missing",
        "No current default release is configured for this family",
    )
    no_rule = review_family("mistral", "Mistral", GPT, [newer])
    assert no_rule["reason"] == "No discovery rule is configured for this family"


# --- the stored review ------------------------------------------------------------------------


async def reviews(ctx: Context) -> list[ModelLineupReview]:
    async with ctx.db.read() as session:
        return list((await session.scalars(select(ModelLineupReview))).all())


async def events(ctx: Context, prefix: str) -> list[tuple[str, str, dict[str, Any]]]:
    async with ctx.db.read() as session:
        rows = await session.scalars(
            select(SystemLog).where(SystemLog.event_type.like(f"{prefix}%"))
        )
        return [(r.event_type, r.severity or "", json.loads(r.event_data or "{}")) for r in rows]


async def catalog_counts(ctx: Context) -> tuple[int, int, str | None]:
    async with ctx.db.read() as session:
        releases = await session.scalar(select(func.count()).select_from(ModelRelease))
        configs = await session.scalar(select(func.count()).select_from(BenchmarkConfig))
        default = await default_config(session)
    return releases or 0, configs or 0, default.id if default else None


async def test_sandbox_review_finds_the_newer_release_and_ignores_variants(
    ctx: Context, sandbox: Sandbox
) -> None:
    before = await catalog_counts(ctx)
    body = await lineup.check_model_lineup(ctx)
    assert body == {
        "success": True,
        "review_id": body["review_id"],
        "status": "open",
        "candidate_count": 1,
        "checked_at": "2026-03-01T00:00:00.000Z",
    }
    (review,) = await reviews(ctx)
    candidates = json.loads(review.candidate_lineup_json)
    decisions = {c["family_id"]: c["decision"] for c in candidates}
    assert decisions == {
        "openai-gpt": "upgrade",
        "google-gemini": "unchanged",  # gemini-3.5-flash is a flash variant
        "xai-grok": "unchanged",  # grok-4.9-fast is a fast variant
        "anthropic-claude-opus": "unchanged",
        "deepseek-v3": "unchanged",
        "moonshot-kimi": "unchanged",
        "alibaba-qwen": "unchanged",  # coder and :free variants ignored
    }
    gpt = candidates[0]
    assert gpt["candidate_openrouter_id"] == "openai/gpt-5.6"  # multimodal, yet found
    assert (gpt["input_price_per_million"], gpt["output_price_per_million"]) == (6.0, 18.0)
    assert json.loads(review.catalog_summary_json) == {
        "source": "https://openrouter.ai/api/v1/models",
        "total_models": len(default_catalog()),
        "candidate_count": 1,
    }
    assert await events(ctx, "admin_model_lineup_review") == [
        (
            "admin_model_lineup_review_checked",
            "warning",
            {"review_id": review.id, "status": "open", "candidate_count": 1},
        )
    ]
    assert await catalog_counts(ctx) == before  # nothing promoted, nothing registered
    assert sandbox.world.calls("openrouter", "GET", "/api/v1/models") == 1


async def test_no_changes_when_the_catalog_has_nothing_newer(
    ctx: Context, sandbox: Sandbox
) -> None:
    current = [m for m in default_catalog() if m["id"] != "openai/gpt-5.6"]
    seed_openrouter_catalog(sandbox.world, current)
    body = await lineup.check_model_lineup(ctx)
    assert (body["status"], body["candidate_count"]) == ("no_changes", 0)
    assert (await events(ctx, "admin_model_lineup_review"))[0][1] == "info"


async def test_catalog_failure_is_stored_and_answered_with_502(
    ctx: Context, sandbox: Sandbox
) -> None:
    openrouter_state(sandbox.world)["down"] = True
    with pytest.raises(AppError) as caught:
        await lineup.check_model_lineup(ctx)
    assert caught.value.status_code == 502
    message = "OpenRouter model catalog request failed: 503 Service Unavailable"
    assert caught.value.message == message
    (review,) = await reviews(ctx)
    assert (review.status, review.error_message, review.candidate_lineup_json) == (
        "failed",
        message,
        "[]",
    )
    assert json.loads(review.catalog_summary_json) == {
        "source": "https://openrouter.ai/api/v1/models",
        "total_models": 0,
        "failed": True,
    }
    assert (await events(ctx, "admin_model_lineup_review"))[0][:2] == (
        "admin_model_lineup_review_failed",
        "error",
    )


async def test_a_catalog_without_data_fails_the_review(ctx: Context, sandbox: Sandbox) -> None:
    summary_before = await reviews(ctx)
    assert summary_before == []
    openrouter_state(sandbox.world)["catalog"] = "oops"  # served as {"data": "oops"}
    summary = await lineup.run_lineup_review(ctx)
    assert summary["status"] == "failed"
    assert summary["error_message"] == (
        "OpenRouter model catalog response did not include a data array"
    )


# --- approve and dismiss ----------------------------------------------------------------------


async def test_approval_makes_a_new_default_for_future_cohorts_only(
    ctx: Context, clock: FrozenClock
) -> None:
    running = await cohorts.start_cohort(ctx)
    review_id = (await lineup.check_model_lineup(ctx))["review_id"]
    clock.advance(hours=2)
    approved = await lineup.approve_review(ctx, review_id)
    version = f"lineup-20260301-openrouter-review-{review_id[-8:]}"
    assert approved["success"] is True and approved["version_name"] == version
    assert approved["review"]["status"] == "approved"
    assert approved["review"]["target_config_id"] == approved["config_id"]
    assert approved["review"]["reviewed_at"] == "2026-03-01T02:00:00.000Z"
    async with ctx.db.read() as session:
        default = await default_config(session)
        assert default is not None and default.id == approved["config_id"]
        assert default.created_by == "admin:lineup-review"
        slots = {s.family_id: s for s in await config_slots(session, default.id)}
        release = await session.get(ModelRelease, slots["openai-gpt"].release_id)
        assert release is not None
        assert (release.id, release.openrouter_id) == ("openai-gpt--gpt-5-6", "openai/gpt-5.6")
        metadata = json.loads(release.metadata_json or "{}")
        assert metadata["created_via"] == "lineup_review"
        assert metadata["source_review_id"] == review_id
        assert slots["openai-gpt"].input_price_per_million_snapshot == 6.0
        assert slots["google-gemini"].release_id == "google-gemini--gemini-3.1-pro-preview"
        assert slots["google-gemini"].input_price_per_million_snapshot == 2.0
        cohort = await session.get(Cohort, running["cohort_id"])
        assert cohort is not None and cohort.benchmark_config_id == DEFAULT_CONFIG_ID
        agents = (await session.scalars(select(Agent.release_id))).all()
        assert "openai-gpt--gpt-5.5" in agents and "openai-gpt--gpt-5-6" not in agents
    assert [e[0] for e in await events(ctx, "admin_model_lineup_review_approved")] == [
        "admin_model_lineup_review_approved"
    ]
    with pytest.raises(AppError, match="Lineup review is approved and cannot be approved"):
        await lineup.approve_review(ctx, review_id)
    with pytest.raises(AppError, match="Lineup review is approved and cannot be dismissed"):
        await lineup.dismiss_review(ctx, review_id)


async def test_approval_needs_an_open_review_with_upgrades(ctx: Context, sandbox: Sandbox) -> None:
    with pytest.raises(AppError) as unknown:
        await lineup.approve_review(ctx, "nope")
    assert (unknown.value.status_code, unknown.value.message) == (404, "Unknown lineup review")
    twin = model("openai/gpt-5.6-pro", "OpenAI: GPT-5.6 Pro", "0.00002", "0.0001")
    seed_openrouter_catalog(sandbox.world, [*default_catalog(), twin])
    review_id = (await lineup.check_model_lineup(ctx))["review_id"]  # a tie: needs_review
    before = await catalog_counts(ctx)
    with pytest.raises(AppError, match="No selected upgrade candidates are available to approve"):
        await lineup.approve_review(ctx, review_id)
    assert await catalog_counts(ctx) == before


async def test_dismissal(ctx: Context) -> None:
    review_id = (await lineup.check_model_lineup(ctx))["review_id"]
    dismissed = await lineup.dismiss_review(ctx, review_id)
    assert dismissed["success"] is True
    assert dismissed["review"]["status"] == "dismissed"
    assert (await events(ctx, "admin_model_lineup_review_dismissed"))[0][2] == {
        "review_id": review_id,
        "prior_status": "open",
    }
    with pytest.raises(AppError) as unknown:
        await lineup.dismiss_review(ctx, "nope")
    assert unknown.value.status_code == 404
