"""Upstream clients: one per upstream, speaking its dialect and returning our types."""
