"""OpenRouter, one client for every part of its API the service uses: `chat` completions (the
arena's model calls), the public model `catalog` (the lineup review, the readiness check), and
with the management key the holder `keys` and the account's credits (CreditBrain), over one
`transport` that sets each call's key and maps failures to `UpstreamError` in the calling
family's words."""

from arenabrain.clients.openrouter.catalog import CatalogError, fetch_catalog
from arenabrain.clients.openrouter.chat import (
    ChatResult,
    OpenRouterChat,
    OpenRouterChatError,
    Prices,
    complete,
)
from arenabrain.clients.openrouter.keys import CreatedKey, Credits, OpenRouterKey, OpenRouterKeys

__all__ = [
    "CatalogError",
    "ChatResult",
    "CreatedKey",
    "Credits",
    "OpenRouterChat",
    "OpenRouterChatError",
    "OpenRouterKey",
    "OpenRouterKeys",
    "Prices",
    "complete",
    "fetch_catalog",
]
