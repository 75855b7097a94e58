"""The weekly lineup review (§5.6, §11.5, §11.6): read OpenRouter's public model catalog, find
newer general-purpose releases of each active family, and store a `model_lineup_reviews` row
for an admin to approve or dismiss. The review itself never creates releases or configs and
never promotes anything; only an admin's approval does, and then for future cohorts only.

Where the anchor misfires, this one does not (§20 item 8): a model is judged "specialised" by
its id and name only, so accepting images or audio (`text+image->text`) does not exclude it;
only a model that cannot answer in text is skipped. Versions with two-digit minor parts
(`4.10`) compare as versions, and a version is read from the id before the display name."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import cmp_to_key
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from arenabrain.arena.benchmark import (
    Assignment,
    active_families,
    build_config,
    config_slots,
    default_config,
    insert_release,
    non_negative,
    release_metadata,
    set_default,
    slugify,
)
from arenabrain.arena.models import ModelFamily, ModelLineupReview, ModelRelease
from arenabrain.arena.system_logs import Severity, log_event
from arenabrain.arena.wire import decode_json, iso
from arenabrain.clients.openrouter import CatalogError, fetch_catalog
from arenabrain.context import Context
from arenabrain.db.ids import new_id
from arenabrain.errors import AppError, NotFound

CATALOG_FAILED = "OpenRouter model lineup check failed"
GLOBAL_EXCLUDED = (
    "audio",
    "coder",
    "codex",
    "coding",
    "computer-use",
    "custom-tools",
    "embed",
    "embedding",
    "free",
    "image",
    "moderation",
    "rerank",
    "speech",
    "transcription",
    "tts",
    "whisper",
)
REASONS = {
    "missing_slot": "No current default release is configured for this family",
    "missing_rule": "No discovery rule is configured for this family",
    "unchanged": "No newer general-purpose OpenRouter release matched the family rules",
    "tie": "Multiple newer candidates share the top version: {ids}",
    "incomplete": "Candidate matched, but pricing or model ID was missing from the OpenRouter "
    "catalog",
    "upgrade": "Newer general-purpose OpenRouter release matched the family rules",
}


@dataclass(frozen=True)
class FamilyRule:
    prefix: str
    required: tuple[str, ...]
    avoid: tuple[str, ...] = ()


FAMILY_RULES: dict[str, FamilyRule] = {
    "openai-gpt": FamilyRule("openai/", ("gpt",), ("mini", "nano", "oss")),
    "google-gemini": FamilyRule("google/", ("gemini",), ("flash",)),
    "xai-grok": FamilyRule("x-ai/", ("grok",), ("fast", "mini")),
    "anthropic-claude-opus": FamilyRule("anthropic/", ("claude", "opus")),
    "deepseek-v3": FamilyRule("deepseek/", ("deepseek",), ("chat", "lite")),
    "moonshot-kimi": FamilyRule("moonshotai/", ("kimi",)),
    "alibaba-qwen": FamilyRule("qwen/", ("qwen", "max"), ("coder", "plus", "thinking")),
}


# --- pure: versions, matching, one family's verdict -------------------------------------------

_DATE_STAMP = re.compile(r"20\d{2}[-_/](?:0?[1-9]|1[0-2])[-_/][0-3]?\d")
_MMDD_SUFFIX = re.compile(r"[-_/](?:0[1-9]|1[0-2])[0-3]\d(?!\d)")
_NUMBER = re.compile(r"\d+(?:\.\d+)*")


def version_parts(text: str) -> tuple[int, ...]:
    """The version numbers in a model id or name: date stamps removed, then every number whose
    dotted components have at most two digits each (`4.10` is (4, 10); `2026`, `70000` are
    not versions)."""
    cleaned = _MMDD_SUFFIX.sub(" ", _DATE_STAMP.sub(" ", text))
    parts: list[int] = []
    for match in _NUMBER.finditer(cleaned):
        pieces = match.group(0).split(".")
        if all(len(piece) <= 2 for piece in pieces):
            parts.extend(int(piece) for piece in pieces)
    return tuple(parts)


def model_version(model_id: str, name: str | None) -> tuple[int, ...]:
    """A model's version: from its id, or from its display name when the id has none."""
    return version_parts(model_id) or version_parts(name or "")


def compare_versions(a: Sequence[int], b: Sequence[int]) -> int:
    """-1, 0 or 1; missing parts count as zero."""
    width = max(len(a), len(b))
    left = tuple(a) + (0,) * (width - len(a))
    right = tuple(b) + (0,) * (width - len(b))
    return (left > right) - (left < right)


def answers_in_text(architecture: Any) -> bool:
    """False only for models whose output cannot be text (image or audio generators)."""
    if isinstance(architecture, Mapping):
        outputs = architecture.get("output_modalities")
        if isinstance(outputs, list) and outputs:
            return "text" in [str(o).lower() for o in outputs]
        architecture = architecture.get("modality")
    if isinstance(architecture, str) and "->" in architecture:
        return "text" in architecture.split("->", 1)[1].lower()
    return True


def is_general_purpose(model: Mapping[str, Any], rule: FamilyRule) -> bool:
    """Whether a catalog model is a general-purpose release of the rule's family: the provider
    prefix, every required fragment, no avoided fragment in its id or name, and text output.
    Input modalities (images, audio, files) never disqualify a model."""
    model_id = str(model.get("id") or "").lower()
    if not model_id.startswith(rule.prefix):
        return False
    words = f"{model_id} {str(model.get('name') or '').lower()}"
    if not all(fragment in words for fragment in rule.required):
        return False
    if any(fragment in words for fragment in (*GLOBAL_EXCLUDED, *rule.avoid)):
        return False
    return answers_in_text(model.get("architecture"))


def price_per_million(value: Any) -> float | None:
    """OpenRouter's per-token price as USD per million tokens (values above 0.01 are taken to
    be per-million already), rounded to 6 decimals."""
    number = non_negative(value)
    if number is None:
        return None
    return round(number if number > 0.01 else number * 1_000_000, 6)


def display_name(model: Mapping[str, Any]) -> str:
    """The release name of a catalog model: its name without OpenRouter's `Provider: ` prefix
    (`OpenAI: GPT-5.6` is `GPT-5.6`), else its id's last segment, title-cased."""
    name = str(model.get("name") or "").strip()
    if ": " in name:
        name = name.split(": ", 1)[1].strip()
    if name:
        return name
    last = str(model.get("id") or "").rsplit("/", 1)[-1]
    return re.sub(r"[-_]+", " ", last).title()


@dataclass(frozen=True)
class CurrentSlot:
    release_id: str
    release_name: str
    openrouter_id: str


def review_family(
    family_id: str,
    family_name: str,
    current: CurrentSlot | None,
    catalog: Sequence[Mapping[str, Any]],
) -> dict[str, Any]:
    """One family's verdict: `missing`, `unchanged`, `needs_review` or `upgrade`."""
    verdict: dict[str, Any] = {
        "family_id": family_id,
        "family_name": family_name,
        "current_release_id": current.release_id if current else None,
        "current_release_name": current.release_name if current else None,
        "current_openrouter_id": current.openrouter_id if current else None,
        "candidate_openrouter_id": None,
        "candidate_name": None,
        "input_price_per_million": None,
        "output_price_per_million": None,
    }
    rule = FAMILY_RULES.get(family_id)
    if current is None or rule is None:
        reason = REASONS["missing_slot" if current is None else "missing_rule"]
        return {**verdict, "decision": "missing", "reason": reason}
    baseline = model_version(current.openrouter_id, current.release_name)
    newer = [
        (model_version(str(m.get("id") or ""), str(m.get("name") or "")), m)
        for m in catalog
        if is_general_purpose(m, rule)
    ]
    newer = [(version, m) for version, m in newer if compare_versions(version, baseline) > 0]
    if not newer:
        return {**verdict, "decision": "unchanged", "reason": REASONS["unchanged"]}
    top_version = max((version for version, _ in newer), key=cmp_to_key(compare_versions))
    top = [m for version, m in newer if compare_versions(version, top_version) == 0]
    chosen = top[0]
    raw_pricing = chosen.get("pricing")
    pricing: Mapping[str, Any] = raw_pricing if isinstance(raw_pricing, Mapping) else {}
    candidate = {
        **verdict,
        "candidate_openrouter_id": chosen.get("id") or None,
        "candidate_name": display_name(chosen),
        "input_price_per_million": price_per_million(pricing.get("prompt")),
        "output_price_per_million": price_per_million(pricing.get("completion")),
    }
    if len(top) > 1:
        ids = ", ".join(str(m.get("id")) for m in top)
        return {**candidate, "decision": "needs_review", "reason": REASONS["tie"].format(ids=ids)}
    if (
        not candidate["candidate_openrouter_id"]
        or candidate["input_price_per_million"] is None
        or candidate["output_price_per_million"] is None
    ):
        return {**candidate, "decision": "needs_review", "reason": REASONS["incomplete"]}
    return {**candidate, "decision": "upgrade", "reason": REASONS["upgrade"]}


# --- the catalog ------------------------------------------------------------------------------


def catalog_source(ctx: Context) -> str:
    return ctx.settings.openrouter_base_url.rstrip("/") + "/models"


# --- reviews ----------------------------------------------------------------------------------


def review_summary(review: ModelLineupReview) -> dict[str, Any]:
    candidates = decode_json(review.candidate_lineup_json, [])
    return {
        "id": review.id,
        "status": review.status,
        "checked_at": iso(review.checked_at),
        "reviewed_at": iso(review.reviewed_at),
        "candidate_count": sum(1 for c in candidates if c.get("decision") != "unchanged"),
        "target_config_id": review.target_config_id,
        "error_message": review.error_message,
        "candidates": candidates,
    }


async def latest_review_summary(session: AsyncSession) -> dict[str, Any] | None:
    review = (
        await session.scalars(
            select(ModelLineupReview)
            .order_by(ModelLineupReview.checked_at.desc(), ModelLineupReview.id.desc())
            .limit(1)
        )
    ).first()
    return review_summary(review) if review else None


async def current_lineup(
    session: AsyncSession,
) -> tuple[list[ModelFamily], dict[str, CurrentSlot]]:
    """Active families and their slot in the default config."""
    families = await active_families(session)
    config = await default_config(session)
    slots = await config_slots(session, config.id) if config else []
    return families, {
        slot.family_id: CurrentSlot(
            slot.release_id, slot.release_display_name_snapshot, slot.openrouter_id_snapshot
        )
        for slot in slots
    }


def review_lineup(
    families: Iterable[ModelFamily],
    current: Mapping[str, CurrentSlot],
    catalog: Sequence[Mapping[str, Any]],
) -> list[dict[str, Any]]:
    return [
        review_family(family.id, family.public_display_name, current.get(family.id), catalog)
        for family in families
    ]


async def run_lineup_review(ctx: Context) -> dict[str, Any]:
    """Check the catalog and store a review (`open`, `no_changes`, or `failed` with the reason);
    returns the review summary. Never raises for an unreachable or malformed catalog."""
    now = ctx.clock.now()
    source = catalog_source(ctx)
    review_id = new_id(now)
    try:
        catalog = await fetch_catalog(ctx.http.openrouter)
        async with ctx.db.read() as session:
            families, current = await current_lineup(session)
        candidates = review_lineup(families, current, catalog)
    except CatalogError as exc:
        failed = ModelLineupReview(
            id=review_id,
            status="failed",
            checked_at=now,
            candidate_lineup_json="[]",
            catalog_summary_json=json.dumps({"source": source, "total_models": 0, "failed": True}),
            error_message=str(exc),
            created_at=now,
        )
        return await _store_review(
            ctx,
            failed,
            "admin_model_lineup_review_failed",
            {"review_id": review_id, "error": str(exc)},
            "error",
        )
    count = sum(1 for c in candidates if c["decision"] != "unchanged")
    status = "open" if count else "no_changes"
    review = ModelLineupReview(
        id=review_id,
        status=status,
        checked_at=now,
        candidate_lineup_json=json.dumps(candidates),
        catalog_summary_json=json.dumps(
            {"source": source, "total_models": len(catalog), "candidate_count": count}
        ),
        created_at=now,
    )
    logged = {"review_id": review_id, "status": status, "candidate_count": count}
    severity: Severity = "warning" if status == "open" else "info"
    return await _store_review(ctx, review, "admin_model_lineup_review_checked", logged, severity)


async def _store_review(
    ctx: Context,
    review: ModelLineupReview,
    event: str,
    logged: Mapping[str, Any],
    severity: Severity,
) -> dict[str, Any]:
    """Write a new review and its log line in one unit of work; returns its summary."""
    async with ctx.db.write() as session:
        session.add(review)
        await log_event(session, event, logged, severity, review.checked_at)
    return review_summary(review)


async def check_model_lineup(ctx: Context) -> dict[str, Any]:
    """Check OpenRouter for newer general-purpose releases and store a review for an admin."""
    summary = await run_lineup_review(ctx)
    if summary["status"] == "failed":
        raise AppError(summary["error_message"] or CATALOG_FAILED, 502)
    return {
        "success": True,
        "review_id": summary["id"],
        "status": summary["status"],
        "candidate_count": summary["candidate_count"],
        "checked_at": summary["checked_at"],
    }


async def _release_for_upgrade(
    session: AsyncSession,
    family: ModelFamily,
    candidate: Mapping[str, Any],
    review_id: str,
    now: datetime,
) -> ModelRelease:
    openrouter_id = str(candidate["candidate_openrouter_id"])
    same = (
        await session.scalars(
            select(ModelRelease).where(
                ModelRelease.family_id == family.id, ModelRelease.openrouter_id == openrouter_id
            )
        )
    ).first()
    if same is not None:
        return same
    slug = slugify(str(candidate["candidate_name"] or openrouter_id))
    existing = await session.get(ModelRelease, f"{family.id}--{slug}")
    if existing is not None:
        return existing
    return await insert_release(
        session,
        family,
        release_name=str(candidate["candidate_name"]),
        release_slug=slug,
        openrouter_id=openrouter_id,
        metadata={
            "default_input_price_per_million": candidate["input_price_per_million"],
            "default_output_price_per_million": candidate["output_price_per_million"],
            "created_via": "lineup_review",
            "source_review_id": review_id,
            "notes": "Registered when an admin approved an OpenRouter lineup review.",
        },
        now=now,
    )


async def approve_review(ctx: Context, review_id: str) -> dict[str, Any]:
    """Turn an open review's upgrades into a new default config for future cohorts."""
    now = ctx.clock.now()
    async with ctx.db.write() as session:
        review = await session.get(ModelLineupReview, review_id)
        if review is None:
            raise NotFound("Unknown lineup review")
        if review.status != "open":
            raise AppError(f"Lineup review is {review.status} and cannot be approved")
        candidates = {c.get("family_id"): c for c in decode_json(review.candidate_lineup_json, [])}
        upgrades = [c for c in candidates.values() if c.get("decision") == "upgrade"]
        if not upgrades:
            raise AppError("No selected upgrade candidates are available to approve")
        families = await active_families(session)
        config = await default_config(session)
        default_slots = {
            s.family_id: s for s in (await config_slots(session, config.id) if config else [])
        }
        assignments = []
        for family in families:
            candidate = candidates.get(family.id)
            slot = default_slots.get(family.id)
            if candidate and candidate.get("decision") == "upgrade":
                release = await _release_for_upgrade(session, family, candidate, review.id, now)
                prices = (
                    candidate["input_price_per_million"],
                    candidate["output_price_per_million"],
                )
            else:
                release_id = (candidate or {}).get("current_release_id") or (
                    slot.release_id if slot else None
                )
                found = await session.get(ModelRelease, release_id) if release_id else None
                if found is None:
                    raise AppError(f"No release available for family {family.public_display_name}")
                release = found
                metadata = release_metadata(release)
                prices = (
                    (slot.input_price_per_million_snapshot, slot.output_price_per_million_snapshot)
                    if slot and slot.release_id == release.id
                    else (
                        metadata.get("default_input_price_per_million", 0.0),
                        metadata.get("default_output_price_per_million", 0.0),
                    )
                )
            if prices[0] is None or prices[1] is None:
                raise AppError(f"Missing pricing for family {family.public_display_name}")
            assignments.append(Assignment(family, release, float(prices[0]), float(prices[1])))
        checked = review.checked_at.strftime("%Y%m%d")
        version_name = f"lineup-{checked}-openrouter-review-{review.id[-8:]}"
        new_config, _slots = await build_config(
            session,
            version_name=version_name,
            methodology_version="v2",
            notes=(
                f"Approved by an operator from OpenRouter lineup review {review.id}; "
                "applies to future cohorts only."
            ),
            created_by="admin:lineup-review",
            assignments=assignments,
            now=now,
        )
        await set_default(session, new_config.id)
        review.status = "approved"
        review.reviewed_at = now
        review.target_config_id = new_config.id
        await log_event(
            session,
            "admin_model_lineup_review_approved",
            {
                "review_id": review.id,
                "benchmark_config_id": new_config.id,
                "version_name": version_name,
                "selected_upgrade_count": len(upgrades),
            },
            "info",
            now,
        )
        await session.flush()
        latest = await latest_review_summary(session)
        return {
            "success": True,
            "review": latest,
            "config_id": new_config.id,
            "version_name": version_name,
        }


async def dismiss_review(ctx: Context, review_id: str) -> dict[str, Any]:
    """Close a review without changing the lineup."""
    now = ctx.clock.now()
    async with ctx.db.write() as session:
        review = await session.get(ModelLineupReview, review_id)
        if review is None:
            raise NotFound("Unknown lineup review")
        if review.status not in ("open", "no_changes", "failed"):
            raise AppError(f"Lineup review is {review.status} and cannot be dismissed")
        prior = review.status
        review.status = "dismissed"
        review.reviewed_at = now
        await log_event(
            session,
            "admin_model_lineup_review_dismissed",
            {"review_id": review.id, "prior_status": prior},
            "info",
            now,
        )
        await session.flush()
        return {"success": True, "review": review_summary(review)}
