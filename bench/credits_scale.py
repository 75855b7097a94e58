"""Benchmark CreditBrain at the scale of a real token, with every OpenRouter request taking
--latency seconds more (50 ms by default).

    .venv/bin/python bench/credits_scale.py [--holders 1000] [--keys 10000] [--latency 0.05]
                                            [--concurrency 8]

1. A pipeline run that claims and swaps fees, snapshots --holders holders and allocates to each
   of them (EQUAL_SPLIT), then provisions one OpenRouter key per holder: prints its wall time
   and the requests it made (goal: within 10 s for 1,000 holders).
2. The usage poll over --keys live keys: prints the list requests and the wall time (goal: at
   most ceil(keys / 100) requests).

Everything runs in-process: a temporary SQLite file, the Bags, Solana/Helius and OpenRouter
emulators (the delay is added in front of OpenRouter's), and a frozen clock. The emulators'
own work shares the process, so the CPU time printed is the pipeline's and theirs together;
on a loaded machine compare it, and the wall time, with the latency bound printed."""

from __future__ import annotations

import argparse
import asyncio
import math
import sys
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import httpx
from solders.keypair import Keypair

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from arenabrain.clock import FrozenClock
from arenabrain.credits import runs, strategies, usage
from arenabrain.credits.models import UserKey
from arenabrain.credits.schemas import StrategyCreate
from arenabrain.db.ids import new_id
from arenabrain.logging import configure_logging
from arenabrain.runtime import open_context
from arenabrain.sandbox import Sandbox, World
from arenabrain.sandbox import bags as bags_emulator
from arenabrain.sandbox import openrouter as openrouter_emulator
from arenabrain.sandbox import solana as chain
from arenabrain.settings import load_settings

START = datetime(2026, 3, 1, tzinfo=UTC)
KEK = "dGVzdC1rZXktZW5jcnlwdGlvbi1rZXktMzItYnl0ZXM="  # 32 bytes, base64
OWNER_KEY = Keypair.from_seed(bytes([42] * 32))
OWNER = str(OWNER_KEY.pubkey())


def wallet(n: int) -> str:
    return str(Keypair.from_seed(n.to_bytes(4, "big") * 8).pubkey())


class Delayed(httpx.AsyncBaseTransport):
    """Every request waits `seconds` before the emulator sees it (network and OpenRouter)."""

    def __init__(self, inner: httpx.AsyncBaseTransport, seconds: float) -> None:
        self.inner = inner
        self.seconds = seconds

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        await asyncio.sleep(self.seconds)
        return await self.inner.handle_async_request(request)


def requests_of(world: World, upstream: str, since: int = 0) -> Counter[str]:
    return Counter(f"{m} {p}" for u, m, p in world.requests[since:] if u == upstream)


async def bench(holders: int, key_count: int, latency: float, concurrency: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        settings = load_settings(
            {
                "APP_ENV": "test",
                "DATABASE_PATH": str(Path(tmp) / "bench.db"),
                "SCHEDULER_ENABLED": "false",
                "LOG_LEVEL": "error",
                "KEY_ENCRYPTION_KEY": KEK,
                "BAGS_API_KEY": "bench-bags",
                "HELIUS_API_KEY": "bench-helius",
                "OPENROUTER_MANAGEMENT_KEY": "bench-management",
                "SIGNER_PRIVATE_KEY": str(OWNER_KEY),
                "MAX_DAILY_RUNS": "0",
                "PROVISIONING_CONCURRENCY": str(concurrency),
            }
        )
        configure_logging("error", [], stream=sys.stderr)
        clock = FrozenClock(START)
        sandbox = Sandbox(World(clock=clock, seed=7))
        world = sandbox.world
        transports = dict(sandbox.transports())
        transports["openrouter"] = Delayed(transports["openrouter"], latency)

        mint = wallet(0)
        chain.set_balance(world, OWNER, 1_000_000_000)
        bags_emulator.add_claimable_position(world, OWNER, wallet(1), 20 * 10**9)  # 20 SOL
        chain.seed_holders(world, mint, {wallet(n): 1_000 + n for n in range(10, 10 + holders)})
        openrouter_emulator.openrouter_state(world)["total_credits"] = 10_000_000.0

        async with open_context(settings, clock=clock, transports=transports) as ctx:
            strategy = await strategies.create_strategy(
                ctx,
                StrategyCreate.of(
                    owner_wallet=OWNER,
                    distribution_token=mint,
                    distribution="EQUAL_SPLIT",
                    min_claim_threshold=Decimal("0.1"),
                ),
            )
            before = len(world.requests)
            started, cpu = time.perf_counter(), time.process_time()
            run = await runs.start_run(ctx, strategy.strategy_id, "cli")
            wall, cpu = time.perf_counter() - started, time.process_time() - cpu
            made = requests_of(world, "openrouter", before)
            print(f"provision {holders} holders (OpenRouter +{latency * 1000:.0f} ms/request, ")
            print(f"  PROVISIONING_CONCURRENCY={concurrency}): run {run.state}, ")
            print(f"  keys created {run.keys_provisioned}, allocated ${run.allocated_usd}")
            print(f"  wall time          {wall:.2f} s (goal <= 10 s); CPU {cpu:.2f} s")
            ideal = math.ceil(holders / concurrency) * latency
            print(f"  latency bound      {ideal:.2f} s (ceil(holders / concurrency) x latency)")
            print(f"  OpenRouter requests {sum(made.values())}: {dict(sorted(made.items()))}")
            for upstream in ("bags", "helius"):
                print(f"  {upstream} requests {sum(requests_of(world, upstream, before).values())}")
            if run.state != "COMPLETE":
                print(f"  error: {run.error}")

            # The usage poll over key_count live keys (the run's keys plus seeded ones).
            extra = key_count - run.keys_provisioned
            seeded = openrouter_emulator.seed_keys(
                world, [f"seeded-{n}" for n in range(extra)], limit="5", limit_reset="monthly"
            )
            now = clock.now()
            async with ctx.db.write() as session:
                session.add_all(
                    UserKey(
                        key_id=new_id(now),
                        strategy_id=None,
                        holder_wallet=wallet(100_000 + n),
                        openrouter_key_hash=key_hash,
                        key_name=f"seeded-{n}",
                        limit_usd_cents=500,
                        limit_reset="monthly",
                        total_allocated_cents=500,
                        status="ACTIVE",
                        created_at=now,
                        updated_at=now,
                    )
                    for n, key_hash in enumerate(seeded)
                )
            before = len(world.requests)
            started, cpu = time.perf_counter(), time.process_time()
            polled = await usage.poll_usage(ctx)
            wall, cpu = time.perf_counter() - started, time.process_time() - cpu
            made = requests_of(world, "openrouter", before)
            goal = math.ceil(key_count / 100)
            print(f"usage poll of {key_count} keys: {polled}")
            print(f"  list requests      {made['GET /api/v1/keys']} (goal <= {goal})")
            print(f"  all requests       {sum(made.values())}")
            print(f"  wall time          {wall:.2f} s; CPU {cpu:.2f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--holders", type=int, default=1000)
    parser.add_argument("--keys", type=int, default=10_000)
    parser.add_argument("--latency", type=float, default=0.05)
    parser.add_argument("--concurrency", type=int, default=8)
    args = parser.parse_args()
    asyncio.run(bench(args.holders, args.keys, args.latency, args.concurrency))


if __name__ == "__main__":
    main()
