"""The complete metadata: importing this module registers every table of both domains."""

from __future__ import annotations

import importlib

from arenabrain.db.base import Base

# Each domain declares its tables in its own models module; import them for their side effect.
for _module in (
    "arenabrain.db.service_models",
    "arenabrain.arena.models",
    "arenabrain.credits.models",
):
    try:
        importlib.import_module(_module)
    except ModuleNotFoundError as exc:  # a domain still being built must not break the other
        if exc.name != _module:
            raise

target_metadata = Base.metadata
