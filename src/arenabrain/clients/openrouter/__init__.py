"""OpenRouter, one client for every part of its API the service uses: the public model
`catalog` (the lineup review, the readiness check), over one `transport` that sets each call's
key and maps failures to `UpstreamError` in the calling family's words."""

from arenabrain.clients.openrouter.catalog import CatalogError, fetch_catalog

__all__ = ["CatalogError", "fetch_catalog"]
