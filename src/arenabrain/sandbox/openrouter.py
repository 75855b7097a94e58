"""OpenRouter emulator: the public model catalog and the account's credits.

The decision and CreditBrain work grows it (chat completions, key management)."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from arenabrain.sandbox.core import emulator
from arenabrain.sandbox.world import World


def openrouter_state(world: World) -> dict[str, Any]:
    return world.state.setdefault(
        "openrouter",
        {"total_credits": 100.0, "total_usage": 0.0, "catalog": [], "down": False},
    )


@emulator("openrouter")
def build(world: World) -> FastAPI:
    app = FastAPI(title="OpenRouter emulator (sandbox)")
    state = openrouter_state(world)

    @app.middleware("http")
    async def record(request: Request, call_next: Any) -> Any:
        world.record("openrouter", request.method, request.url.path)
        if state["down"]:
            return JSONResponse({"error": {"code": 503, "message": "unavailable"}}, 503)
        return await call_next(request)

    @app.get("/api/v1/models")
    async def models() -> dict[str, Any]:
        return {"data": state["catalog"]}

    @app.get("/api/v1/credits")
    async def credits(request: Request) -> Any:
        if not request.headers.get("authorization", "").startswith("Bearer "):
            missing = {"error": {"code": 401, "message": "No auth credentials found"}}
            return JSONResponse(missing, 401)
        totals = {key: state[key] for key in ("total_credits", "total_usage")}
        return {"data": totals}

    return app
