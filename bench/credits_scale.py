"""Benchmark CreditBrain at the scale of a real token, with every OpenRouter request taking
--latency seconds more (50 ms by default).

    .venv/bin/python bench/credits_scale.py [--holders 1000] [--keys 10000] [--latency 0.05]
                                            [--concurrency 8]

1. A pipeline run that claims and swaps fees, snapshots --holders holders and allocates to each
   of them (EQUAL_SPLIT), then provisions one OpenRouter key per holder (goal: within 10 s for
   1,000 holders).
2. A second run over the same holders, which tops every key up (each top-up journaled before
   its PATCH and settled after): the steady state of a token, measured against the same goal.
3. The usage poll over --keys live keys: the list requests (goal: at most ceil(keys / 100))
   and the wall time.

For each run: the wall and CPU time of the run and of its PROVISIONING phase, the wall time's
ratio to the goal, and the latency bound: the OpenRouter requests made one after another (the
account's credits, the key listings) plus the holders' requests, PROVISIONING_CONCURRENCY at a
time, each taking --latency; nothing can finish sooner.

Everything runs in-process: a temporary SQLite file, the Bags, Solana/Helius and OpenRouter
emulators (the delay is added in front of OpenRouter's), and a frozen clock. The emulators'
own work shares the process, so the CPU time printed is the pipeline's and theirs together.
The machine's load average is printed before and after: on a shared machine, compare the CPU
time, and the wall time with the latency bound."""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import httpx
from solders.keypair import Keypair

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from arenabrain.clients.openrouter.keys import OpenRouterKeys
from arenabrain.clock import FrozenClock
from arenabrain.context import Context
from arenabrain.credits import keys, runs, strategies, usage
from arenabrain.credits.keystore import keystore_for
from arenabrain.credits.models import UserKey
from arenabrain.credits.phases import HANDLERS
from arenabrain.credits.phases.base import PhaseContext, PhaseOutcome
from arenabrain.credits.schemas import StrategyCreate
from arenabrain.credits.state_machine import RunState
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
GOAL_SECONDS = 10.0
OPENROUTER = "https://openrouter.ai/api/v1/"
# Requests a run makes once, one after another; every other OpenRouter request is a holder's.
SEQUENTIAL = {"GET /api/v1/credits", "GET /api/v1/keys"}


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


class Stopwatch:
    """The wall and CPU time spent in `running()` blocks since the last `reset()`."""

    def __init__(self) -> None:
        self.wall = self.cpu = 0.0

    def reset(self) -> None:
        self.wall = self.cpu = 0.0

    @contextmanager
    def running(self) -> Iterator[None]:
        wall, cpu = time.perf_counter(), time.process_time()
        try:
            yield
        finally:
            self.wall += time.perf_counter() - wall
            self.cpu += time.process_time() - cpu


def time_provisioning() -> Stopwatch:
    """Time every PROVISIONING phase (the runner looks its handler up in HANDLERS)."""
    watch = Stopwatch()
    handler = HANDLERS[RunState.PROVISIONING]

    async def provisioning(pc: PhaseContext) -> PhaseOutcome:
        with watch.running():
            return await handler(pc)

    HANDLERS[RunState.PROVISIONING] = provisioning
    return watch


def openrouter_calls(world: World, since: int) -> Counter[str]:
    """OpenRouter requests made since `since`, a key's hash in a path shown as :hash."""
    calls: Counter[str] = Counter()
    for upstream, method, path in world.requests[since:]:
        if upstream == "openrouter":
            parts = path.split("/")
            if len(parts) > 4 and parts[3] == "keys":
                path = "/".join([*parts[:4], ":hash"])
            calls[f"{method} {path}"] += 1
    return calls


async def control(holders: int, latency: float, concurrency: int) -> Stopwatch:
    """The holders' key creations alone, `concurrency` at a time: the same keys client and
    emulator (in a world of their own) with the same delay, and no database. What the run
    adds to this is the pipeline's own cost, whatever the machine's load."""
    clock = FrozenClock(START)
    transport = Delayed(Sandbox(World(clock=clock, seed=7)).transports()["openrouter"], latency)
    store = keystore_for(load_settings({"APP_ENV": "test", "KEY_ENCRYPTION_KEY": KEK}))
    assert store is not None
    bound = asyncio.Semaphore(concurrency)
    watch = Stopwatch()
    async with httpx.AsyncClient(transport=transport, base_url=OPENROUTER) as http:
        client = OpenRouterKeys(http, "bench-management")

        async def create(n: int) -> None:
            async with bound:
                created = await client.create_key(f"control-{n}", Decimal(3), None, None)
            store.encrypt(created.plaintext, created.key.hash)

        with watch.running():
            await asyncio.gather(*(create(n) for n in range(holders)))
    return watch


def load() -> str:
    return "load average " + " ".join(f"{n:.2f}" for n in os.getloadavg())


async def timed_run(
    ctx: Context, world: World, strategy_id: str, phase: Stopwatch, latency: float, title: str
) -> None:
    """One pipeline run: what it did, its times and its latency bound."""
    concurrency = ctx.settings.provisioning_concurrency
    phase.reset()
    before = len(world.requests)
    whole = Stopwatch()
    print(f"{title} ({load()})")
    with whole.running():
        run = await runs.start_run(ctx, strategy_id, "cli")
    made = openrouter_calls(world, before)
    sequential = sum(n for call, n in made.items() if call in SEQUENTIAL)
    per_holder = sum(made.values()) - sequential
    bound = (sequential + math.ceil(per_holder / concurrency)) * latency
    print(
        f"  run {run.state}: keys created {run.keys_provisioned}, topped up {run.keys_updated}, "
        f"allocated ${run.allocated_usd}"
    )
    print(
        f"  wall time          {whole.wall:.2f} s = {whole.wall / GOAL_SECONDS:.2f} x the goal "
        f"({GOAL_SECONDS:.0f} s); CPU {whole.cpu:.2f} s"
    )
    print(f"  PROVISIONING       wall {phase.wall:.2f} s; CPU {phase.cpu:.2f} s")
    print(
        f"  latency bound      {bound:.2f} s = ({sequential} sequential + ceil({per_holder} / "
        f"{concurrency}) holders') requests x {latency * 1000:.0f} ms; wall / bound "
        f"{whole.wall / bound:.2f}"
    )
    print(f"  OpenRouter requests {sum(made.values())}: {dict(sorted(made.items()))}")
    if run.state != "COMPLETE":
        print(f"  error: {run.error}")


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
        phase = time_provisioning()

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
            print(
                f"{holders} holders, OpenRouter +{latency * 1000:.0f} ms/request, "
                f"PROVISIONING_CONCURRENCY={concurrency}"
            )
            print(f"control: {holders} key creations alone, no database ({load()})")
            alone = await control(holders, latency, concurrency)
            print(f"  wall time          {alone.wall:.2f} s; CPU {alone.cpu:.2f} s")
            await timed_run(
                ctx, world, strategy.strategy_id, phase, latency, "run 1: a key per holder"
            )

            # More fees a day later: the same holders' keys are topped up.
            clock.advance(days=1)
            bags_emulator.add_claimable_position(world, OWNER, wallet(2), 20 * 10**9)
            await timed_run(
                ctx, world, strategy.strategy_id, phase, latency, "run 2: every key topped up"
            )

            # The usage poll over key_count live keys (the run's keys plus seeded ones).
            async with ctx.db.read() as session:
                ours = len(await keys.all_live(session))
            extra = key_count - ours
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
            print(f"usage poll of {key_count} keys ({load()})")
            watch = Stopwatch()
            with watch.running():
                polled = await usage.poll_usage(ctx)
            made = openrouter_calls(world, before)
            goal = math.ceil(key_count / 100)
            print(f"  {polled}")
            print(f"  list requests      {made['GET /api/v1/keys']} (goal <= {goal})")
            print(f"  all requests       {sum(made.values())}")
            print(f"  wall time          {watch.wall:.2f} s; CPU {watch.cpu:.2f} s")
            print(f"done ({load()})")


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
