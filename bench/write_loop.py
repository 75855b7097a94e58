"""The writer of bench/read_api.py's write-loop pass: in a process of its own (as an external
cron would be), run `take-snapshots` and `sync-markets` (the job functions the CLI commands and
cron routes call) against the benchmark database in a loop for a number of seconds, with the
sandbox's emulators as upstreams, and print one JSON line of counts: loops, each job's runs,
the errors the jobs reported or raised, and how many of those said "database is locked".

Run: `.venv/bin/python bench/write_loop.py DATABASE SECONDS`"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from arenabrain.arena.markets import sync_markets  # noqa: E402
from arenabrain.arena.snapshots import take_snapshots  # noqa: E402
from arenabrain.context import Context  # noqa: E402
from arenabrain.runtime import open_context  # noqa: E402
from arenabrain.settings import load_settings  # noqa: E402

LOCKED = "database is locked"
Job = Callable[[Context], Awaitable[dict[str, Any]]]
JOBS: tuple[tuple[str, Job], ...] = (
    ("take-snapshots", take_snapshots),
    ("sync-markets", sync_markets),
)


async def write_loop(database: Path, seconds: float) -> dict[str, Any]:
    settings = load_settings(
        {
            "APP_ENV": "development",
            "DATABASE_PATH": str(database),
            "SCHEDULER_ENABLED": "false",
            "LOG_LEVEL": "error",
            "SANDBOX": "true",
            "OPENROUTER_API_KEY": "bench-key",
        }
    )
    counts: dict[str, Any] = {"loops": 0, "errors": 0, "locked": 0, "messages": []}
    for name, _ in JOBS:
        counts[name] = 0
    async with open_context(settings) as ctx:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            for name, job in JOBS:
                try:
                    result = await job(ctx)
                except Exception as exc:  # counted, and the loop goes on
                    problems = [f"{name}: {exc!r}"]
                else:
                    problems = [f"{name}: {e}" for e in job_errors(result)]
                counts[name] += 1
                counts["errors"] += len(problems)
                counts["locked"] += sum(LOCKED in problem for problem in problems)
                counts["messages"] = (counts["messages"] + problems)[:5]
            counts["loops"] += 1
    return counts


def job_errors(result: dict[str, Any]) -> list[str]:
    """The errors a job reports in its result without raising (a count or a list)."""
    found = result.get("errors")
    if isinstance(found, list):
        return [str(e) for e in found]
    if isinstance(found, int) and found:
        return [f"{found} reported"]
    return []


def main() -> None:
    database, seconds = Path(sys.argv[1]), float(sys.argv[2])
    print(json.dumps(asyncio.run(write_loop(database, seconds))), flush=True)


if __name__ == "__main__":
    main()
