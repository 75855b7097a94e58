"""Benchmark run-decisions: 5 cohorts x 7 agents against the sandbox, each model call taking L s.

    .venv/bin/python bench/run_decisions.py [--latency 1.0] [--concurrency 8] [--cohorts 5]

Prints the wall time of one run, the ideal time ceil(agents / concurrency) x L, the anchor's
sequential time agents x (L + 1 s sleep), and both ratios (goal: wall <= 1.3 x ideal).
Everything runs in-process: a temporary SQLite file, the Gamma/CLOB/OpenRouter emulators, a
frozen clock on Sunday 00:05 UTC, and personas pinned to clean answers (one call per agent)."""

from __future__ import annotations

import argparse
import asyncio
import math
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from arenabrain.arena import cohorts, markets
from arenabrain.arena.decisions.engine import run_decisions
from arenabrain.clock import FrozenClock
from arenabrain.logging import configure_logging
from arenabrain.runtime import open_context
from arenabrain.sandbox import Sandbox, World
from arenabrain.sandbox.personas import mount_chat, personas_state
from arenabrain.settings import load_settings

FIRST_SUNDAY = datetime(2026, 3, 1, tzinfo=UTC)
ANCHOR_SLEEP_SECONDS = 1.0


async def bench(latency: float, concurrency: int, cohort_count: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        settings = load_settings(
            {
                "APP_ENV": "test",
                "DATABASE_PATH": str(Path(tmp) / "bench.db"),
                "SCHEDULER_ENABLED": "false",
                "OPENROUTER_API_KEY": "bench-key",
                "ARENA_DECISION_CONCURRENCY": str(concurrency),
                "LOG_LEVEL": "error",
            }
        )
        configure_logging("error", [], stream=sys.stderr)
        clock = FrozenClock(FIRST_SUNDAY)
        sandbox = Sandbox(World(clock=clock, seed=7))
        mount_chat(sandbox.apps["openrouter"], sandbox.world)  # type: ignore[arg-type]
        knobs = personas_state(sandbox.world)
        async with open_context(settings, clock=clock, transports=sandbox.transports()) as ctx:
            for week in range(cohort_count):
                clock.set(FIRST_SUNDAY + timedelta(days=7 * week))
                await cohorts.start_new_cohort(ctx, clock.now())
            clock.set(FIRST_SUNDAY + timedelta(days=7 * (cohort_count - 1), minutes=5))
            await markets.sync_markets(ctx)
            knobs["styles"] = _clean_everyone()
            knobs["latency"] = latency
            started = time.perf_counter()
            body = await run_decisions(ctx)
            wall = time.perf_counter() - started
        agents = body["total_agents"]
        calls = knobs["calls"]
        ideal = math.ceil(agents / concurrency) * latency
        sequential = agents * (latency + ANCHOR_SLEEP_SECONDS)
        return {
            "agents": agents,
            "model_calls": calls,
            "errors": body["total_errors"],
            "wall": wall,
            "ideal": ideal,
            "sequential": sequential,
            "max_in_flight": knobs["max_in_flight"],
        }


def _clean_everyone() -> dict[str, str]:
    from arenabrain.arena.seed import FAMILIES

    return {family.openrouter_id: "disciplined" for family in FAMILIES}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--latency", type=float, default=1.0, help="seconds per model call (L)")
    parser.add_argument("--concurrency", type=int, default=8, help="ARENA_DECISION_CONCURRENCY")
    parser.add_argument("--cohorts", type=int, default=5, help="decision-eligible cohorts")
    args = parser.parse_args()
    result = asyncio.run(bench(args.latency, args.concurrency, args.cohorts))
    wall, ideal, sequential = result["wall"], result["ideal"], result["sequential"]
    print(
        f"agents               {result['agents']:.0f} ({result['model_calls']:.0f} model calls, "
        f"{result['errors']:.0f} errors, {result['max_in_flight']:.0f} in flight at most)"
    )
    print(f"per-call latency L   {args.latency:.2f} s, concurrency {args.concurrency}")
    print(f"wall time            {wall:.2f} s")
    print(
        f"ideal                {ideal:.2f} s  = ceil({result['agents']:.0f}/{args.concurrency}) x L"
    )
    print(f"anchor sequential    {sequential:.2f} s  = {result['agents']:.0f} x (L + 1 s)")
    print(f"wall / ideal         {wall / ideal:.2f}x  (goal <= 1.30x)")
    print(f"sequential / wall    {sequential / wall:.1f}x faster than the anchor")
    if wall / ideal > 1.3:
        sys.exit(1)


if __name__ == "__main__":
    main()
