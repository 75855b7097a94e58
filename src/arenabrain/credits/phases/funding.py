"""FUNDING: buy OpenRouter credits with the run's USDC.

OpenRouter's crypto credits endpoint is gone (410), so there is nothing to call: without
EVM_PRIVATE_KEY the phase is recorded as SKIPPED with the reason, and ALLOCATING is bounded by
what the credit pool really holds. With EVM_PRIVATE_KEY set the phase fails rather than
pretending money moved."""

from __future__ import annotations

from arenabrain.credits.phases.base import PhaseContext, PhaseFailure, PhaseOutcome
from arenabrain.credits.phases.bridging import SKIPPED_REASON


async def funding(pc: PhaseContext) -> PhaseOutcome:
    if pc.ctx.settings.evm_private_key is not None:
        raise PhaseFailure(
            "DEPENDENCY_NOT_CONFIGURED",
            "Funding OpenRouter on-chain is not implemented (its crypto credits API answers "
            "410 Gone); unset EVM_PRIVATE_KEY and fund the account by hand",
        )
    return PhaseOutcome(
        checkpoint={"funded_usdc_base_units": None, "funding_skipped_reason": SKIPPED_REASON},
        details={"skipped": True, "reason": SKIPPED_REASON, "dryRun": pc.dry_run},
    )
