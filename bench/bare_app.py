"""The bare FastAPI baseline for bench/read_api.py: one route answering what `/health/live`
answers, with no middleware, no dependencies and no lifespan, started by uvicorn the same way
as the service."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

from fastapi import FastAPI

STARTED = time.monotonic()


def create_app() -> FastAPI:
    app = FastAPI()

    @app.get("/health/live")
    async def live() -> dict[str, Any]:
        moment = datetime.now(UTC)
        return {
            "status": "ok",
            "timestamp": moment.strftime("%Y-%m-%dT%H:%M:%S.")
            + f"{moment.microsecond // 1000:03d}Z",
            "uptime": round(time.monotonic() - STARTED, 3),
        }

    return app
