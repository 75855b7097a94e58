"""Every upstream client of the service, built once per context from the settings and the
httpx clients (`clients.http`), and held by `Context.clients`.

One bundle per process means one Bags rate limiter (its 1,000 requests per hour are per API
key, not per caller). Solana RPC and Helius DAS share the Helius URL. Tests swap a client
with `dataclasses.replace(ctx.clients, bags=fake)`."""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import SecretStr

from arenabrain.clients.bags import BagsClient, BagsRateLimiter
from arenabrain.clients.helius import HeliusDas
from arenabrain.clients.http import Upstreams
from arenabrain.clients.openrouter.chat import OpenRouterChat
from arenabrain.clients.openrouter.keys import OpenRouterKeys
from arenabrain.clients.polymarket import PolymarketClient
from arenabrain.clients.signing import Signer
from arenabrain.clients.solana import SolanaRpc
from arenabrain.clock import Clock, Sleep
from arenabrain.keypairs import keypair_from_text
from arenabrain.settings import Settings


@dataclass(frozen=True)
class Clients:
    polymarket: PolymarketClient  # Gamma and the CLOB
    chat: OpenRouterChat  # the arena's model calls
    bags: BagsClient
    solana: SolanaRpc
    holders: HeliusDas
    keys: OpenRouterKeys  # CreditBrain's key management
    signer: Signer | None  # None when SIGNER_PRIVATE_KEY is unset: live claims and swaps fail


def build_clients(settings: Settings, http: Upstreams, clock: Clock, sleep: Sleep) -> Clients:
    """The clients over `http`. Polymarket's retries wait through `sleep`; the Bags rate window
    and Solana's confirmation polling keep real time."""
    chat_key = _secret(settings.openrouter_api_key) or None
    return Clients(
        polymarket=PolymarketClient(http.gamma, http.clob, sleep=sleep),
        chat=OpenRouterChat(http.openrouter, chat_key, settings.site_url),
        bags=BagsClient(http.bags, _secret(settings.bags_api_key), BagsRateLimiter(clock)),
        solana=SolanaRpc(http.helius),
        holders=HeliusDas(http.helius),
        keys=OpenRouterKeys(http.openrouter, _secret(settings.openrouter_management_key)),
        signer=Signer(keypair_from_text(_secret(settings.signer_private_key)))
        if settings.signer_private_key is not None
        else None,
    )


def _secret(value: SecretStr | None) -> str:
    return "" if value is None else value.get_secret_value()
