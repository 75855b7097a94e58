"""BRIDGING and FUNDING: the USDC stays in the treasury and an operator buys the credits.

BRIDGING would move the USDC from Solana to where OpenRouter credits are bought, and FUNDING
would buy them; but OpenRouter no longer sells credits through an API (its crypto endpoint
answers 410). So both phases record SKIPPED with the reason (never a fake success, the
anchor's B4), and ALLOCATING is bounded by what the credit pool really holds. With
EVM_PRIVATE_KEY set they fail instead: the operator asked for an on-chain path we do not have."""

from __future__ import annotations

from arenabrain.credits.phases.base import PhaseContext, PhaseFailure, PhaseOutcome

SKIPPED_REASON = "USDC stays in the treasury; an operator funds the OpenRouter account"


async def bridging(pc: PhaseContext) -> PhaseOutcome:
    return _operator_step(
        pc,
        "bridged_usdc_base_units",
        "bridging_skipped_reason",
        "CCTP bridge not implemented yet; unset EVM_PRIVATE_KEY to keep the USDC in the "
        "treasury and fund the OpenRouter account by hand",
    )


async def funding(pc: PhaseContext) -> PhaseOutcome:
    return _operator_step(
        pc,
        "funded_usdc_base_units",
        "funding_skipped_reason",
        "Funding OpenRouter on-chain is not implemented (its crypto credits API answers "
        "410 Gone); unset EVM_PRIVATE_KEY and fund the account by hand",
    )


def _operator_step(
    pc: PhaseContext, amount_column: str, reason_column: str, not_built: str
) -> PhaseOutcome:
    """SKIPPED with the reason (nothing moved), or DEPENDENCY_NOT_CONFIGURED with an EVM key."""
    if pc.ctx.settings.evm_private_key is not None:
        raise PhaseFailure("DEPENDENCY_NOT_CONFIGURED", not_built)
    return PhaseOutcome(
        checkpoint={amount_column: None, reason_column: SKIPPED_REASON},
        details={"skipped": True, "reason": SKIPPED_REASON, "dryRun": pc.dry_run},
    )
