"""OpenRouter, one client for every part of its API the service uses: `chat` completions (the
arena's model calls) and the public model `catalog` (the lineup review, the readiness check),
over one `transport` that sets each call's key and maps failures to `UpstreamError` in the
calling family's words."""

from arenabrain.clients.openrouter.catalog import CatalogError, fetch_catalog
from arenabrain.clients.openrouter.chat import (
    ChatResult,
    OpenRouterChat,
    OpenRouterChatError,
    Prices,
    complete,
)

__all__ = [
    "CatalogError",
    "ChatResult",
    "OpenRouterChat",
    "OpenRouterChatError",
    "Prices",
    "complete",
    "fetch_catalog",
]
