"""Every table of the service, for Alembic: the shared tables and each domain's `models`,
imported by name (the database adapter itself knows no domain)."""

from __future__ import annotations

from arenabrain.arena import models as arena_models
from arenabrain.credits import models as credits_models
from arenabrain.db import service_models
from arenabrain.db.base import Base

# The modules whose classes declare the tables; importing them fills `Base.metadata`.
TABLE_MODULES = (service_models, arena_models, credits_models)
target_metadata = Base.metadata
