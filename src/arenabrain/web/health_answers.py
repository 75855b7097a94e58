"""What the health routes answer, as the API document shows it (`web/health.py`).

The routes build their bodies themselves (the live check is the service's cheapest answer), so
these shapes document them through `responses=` and the API gate checks every answer against
them. `sandbox` appears, and is true, only in sandbox mode."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class HealthAnswer(BaseModel):
    model_config = ConfigDict(extra="forbid")

    timestamp: str = Field(description="ISO 8601 UTC with milliseconds, `...Z`")
    sandbox: Literal[True] | None = Field(None, description="Only in sandbox mode")


class Live(HealthAnswer):
    """`GET /health/live` and `GET /health`: always 200 while the process runs."""

    status: Literal["ok"]
    uptime: float = Field(description="Seconds since the process started")


class Dependencies(BaseModel):
    model_config = ConfigDict(extra="forbid")

    openrouter: bool
    database: bool


class Ready(HealthAnswer):
    """`GET /health/ready`: 200 when every dependency answered within 3 s, else 503."""

    status: Literal["ok", "degraded"]
    uptime: float
    dependencies: Dependencies
    responseTimeMs: int


class Check(BaseModel):
    model_config = ConfigDict(extra="forbid")

    status: Literal["ok", "error"]
    message: str | None = Field(None, description="What failed (never a secret's name)")


class Checks(BaseModel):
    model_config = ConfigDict(extra="forbid")

    database: Check
    environment: Check
    data_integrity: Check


class ArenaHealth(HealthAnswer):
    """`GET /api/health` (the arena's): 200 when every check is ok, else 503."""

    status: Literal["ok", "error"]
    checks: Checks


def answers(shape: type[BaseModel], degraded: str | None = None) -> dict[int | str, Any]:
    """`responses=` of a health route: its 200 and, when it has one, its 503 (the same shape)."""
    documented: dict[int | str, Any] = {200: {"model": shape, "description": "Healthy"}}
    if degraded is not None:
        documented[503] = {"model": shape, "description": degraded}
    return documented
