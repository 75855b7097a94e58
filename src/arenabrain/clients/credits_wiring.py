"""The CreditBrain upstream clients, built once per process from the context.

Memoised in `ctx.extras["credit_clients"]` so every phase, route and job shares one Bags rate
limiter (the 1,000 requests per hour are per API key, not per caller). Solana RPC and Helius
DAS share the Helius URL (`ctx.http.helius`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from pydantic import SecretStr

from arenabrain.clients.bags import BagsClient, BagsRateLimiter
from arenabrain.clients.helius import HeliusDas
from arenabrain.clients.openrouter_keys import OpenRouterKeys
from arenabrain.clients.signer import keypair_from_text
from arenabrain.clients.signing import Signer
from arenabrain.clients.solana import SolanaRpc

if TYPE_CHECKING:
    from arenabrain.context import Context

EXTRAS_KEY = "credit_clients"


@dataclass(frozen=True)
class CreditClients:
    bags: BagsClient
    solana: SolanaRpc
    holders: HeliusDas
    keys: OpenRouterKeys
    signer: Signer | None  # None when SIGNER_PRIVATE_KEY is unset: live claims and swaps fail


def credit_clients(ctx: Context) -> CreditClients:
    """The process-wide CreditBrain clients (built on first use)."""
    existing = ctx.extras.get(EXTRAS_KEY)
    if isinstance(existing, CreditClients):
        return existing
    settings = ctx.settings
    clients = CreditClients(
        bags=BagsClient(ctx.http.bags, _secret(settings.bags_api_key), BagsRateLimiter(ctx.clock)),
        solana=SolanaRpc(ctx.http.helius),
        holders=HeliusDas(ctx.http.helius),
        keys=OpenRouterKeys(ctx.http.openrouter, _secret(settings.openrouter_management_key)),
        signer=Signer(keypair_from_text(_secret(settings.signer_private_key)))
        if settings.signer_private_key is not None
        else None,
    )
    ctx.extras[EXTRAS_KEY] = clients
    return clients


def _secret(value: SecretStr | None) -> str:
    return "" if value is None else value.get_secret_value()
