"""BRIDGING: move USDC from Solana to where OpenRouter credits are bought.

OpenRouter no longer sells credits through an API (its crypto endpoint answers 410), so the
USDC stays in the treasury and an operator funds the OpenRouter account by hand. Without
EVM_PRIVATE_KEY the phase is recorded as SKIPPED with that reason (never a fake success, the
anchor's B4); with it set the phase fails, because the CCTP bridge is not implemented yet."""

from __future__ import annotations

from arenabrain.credits.phases.base import PhaseContext, PhaseFailure, PhaseOutcome

SKIPPED_REASON = "USDC stays in the treasury; an operator funds the OpenRouter account"


async def bridging(pc: PhaseContext) -> PhaseOutcome:
    if pc.ctx.settings.evm_private_key is not None:
        raise PhaseFailure(
            "DEPENDENCY_NOT_CONFIGURED",
            "CCTP bridge not implemented yet; unset EVM_PRIVATE_KEY to keep the USDC in the "
            "treasury and fund the OpenRouter account by hand",
        )
    return PhaseOutcome(
        checkpoint={"bridged_usdc_base_units": None, "bridging_skipped_reason": SKIPPED_REASON},
        details={"skipped": True, "reason": SKIPPED_REASON, "dryRun": pc.dry_run},
    )
