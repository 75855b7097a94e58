"""Money properties over any sequence of runs, crashes, runs of a second strategy on the same
signer wallet, waits and resumes, through the in-memory fakes (tests/credits/fakes.py).

Hypothesis draws the sequences (a fixed seed, 40 of them). Two strategies share the owner
wallet (every live strategy's owner is the signer), one OpenRouter account and the holders; the
first strategy has run once already, so its holders have keys to top up. New fees accrue before
every run, each claimed in two transactions. A crash kills the process at any call of a run or
a resume: right after the call's effect (the fakes' `crash_at`: a send landed, a key created or
patched, a read answered) or right before it (any call of any port), leaving the run mid-phase
with its locks; a wait lets those locks go stale; a resume continues a failed or stuck run.

After every step (whatever is still unfinished):
- the sum of all allocations never exceeds the pool bound (credits − reserve);
- no holder's keys on OpenRouter hold more than the sum of the holder's allocations (per
  strategy), and none holds less than what was recorded as provisioned;
- the runs never count more lamports or USDC than the chain moved.
At the end, every run resumed to COMPLETE:
- each holder has one live key per strategy, whose limit equals the sum of the holder's
  allocations and `user_keys.limit_usd_cents`; no other key is left on OpenRouter;
- the lamports the runs claimed equal what the chain moved to the owner, and the USDC they
  counted equals what the chain swapped; each landed claim and swap is counted by one run."""

from __future__ import annotations

import asyncio
import shutil
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import AsyncExitStack
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, event, given, note, seed, settings
from hypothesis import strategies as st
from sqlalchemy import select

from arenabrain.clock import FrozenClock
from arenabrain.context import Context
from arenabrain.credits import keys, runs
from arenabrain.credits.locks import LOCK_TTL
from arenabrain.credits.models import AllocationSnapshot, ClaimTransaction, Run, UserKey
from arenabrain.runtime import open_context
from arenabrain.settings import load_settings
from tests.conftest import FakeSleep
from tests.credits.conftest import KEK, make_strategy
from tests.credits.fakes import OWNER, Crash, Faults, World, wallet
from tests.credits.test_chaos_e2e import report

HOLDERS = {wallet(1): 500, wallet(2): 300, wallet(3): 200}
# The pool bound ($450 after the 10% reserve) is below what the six keys may hold ($100 each,
# per strategy and holder), so either bound can decide.
CREDITS_USD = 500
BOUND_CENTS = CREDITS_USD * 90
KEY_CAP_CENTS = 100_00
MAX_SETTLE_ROUNDS = 6

PORTS = ("bags", "solana", "holders", "keys", "signer")
# The fakes' calls that record an effect (or an answer) and can then crash (`crash_at`).
CRASH_AFTER_EFFECT = {"send_transaction", "create_key", "update_key", "list_keys", "get_key"}


# --- steps ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Kill:
    """The process dies at the `call`-th external call of a run (counting every call of every
    port): right after it (after its effect), or right before it."""

    call: int
    after: bool


@dataclass(frozen=True)
class RunStep:
    strategy: int  # 0 or 1: both draw on the one signer wallet
    fees: int  # lamports accrued for the owner before it starts
    kill: Kill | None = None


@dataclass(frozen=True)
class ResumeStep:
    pick: int  # which unfinished run (modulo their number)
    kill: Kill | None = None


@dataclass(frozen=True)
class WaitStep:
    """Time passes beyond the locks' TTL: a dead process's locks go stale."""


# A run makes about 26 calls when its holders have keys already: claims and the swap (1-16),
# the pool and holders (17-20), then a GET and a PATCH per holder. Each is equally likely (a
# seeded uniform draw: hypothesis's own integers favour their bounds).
kill = st.builds(
    Kill, st.randoms(use_true_random=True).map(lambda r: r.randint(1, 28)), st.booleans()
)
maybe_kill = st.one_of(kill, kill, st.none())
strategy_index = st.integers(min_value=0, max_value=1)
fees = st.integers(min_value=100_000_000, max_value=800_000_000)  # from the threshold up
run_step = st.builds(RunStep, strategy_index, fees, maybe_kill)
later_step = st.one_of(
    run_step,
    run_step,
    st.builds(ResumeStep, st.integers(min_value=0, max_value=7), maybe_kill),
    st.just(WaitStep()),
)
# A sequence starts with a run that crashes, then anything.
steps = st.builds(
    lambda first, rest: [first, *rest],
    st.builds(RunStep, strategy_index, fees, kill),
    st.lists(later_step, max_size=5),
)


@dataclass
class Tripwire:
    """Counts every call the fakes see and kills the process at the armed one, through the
    fakes' own crash helpers."""

    call: int | None = None
    after: bool = False
    seen: int = 0

    def install(self, world: World) -> None:
        for port in PORTS:
            faults = faults_of(world, port)
            faults.enter = self._counting(faults, faults.enter)  # type: ignore[method-assign]

    def arm(self, kill: Kill | None) -> None:
        self.call = None if kill is None else self.seen + kill.call
        self.after = kill is not None and kill.after

    def disarm(self, world: World) -> None:
        """A crash armed for a call the run never reached does not outlive it."""
        self.call = None
        for port in PORTS:
            faults_of(world, port).crash_on.clear()

    def _counting(self, faults: Faults, enter: Callable[[str], None]) -> Callable[[str], None]:
        def counted(op: str) -> None:
            enter(op)
            self.seen += 1
            if self.seen != self.call:
                return
            if not self.after:
                event(f"crash before {op}")
                raise Crash(f"before {op} #{faults.calls[op]}")
            if op in CRASH_AFTER_EFFECT:
                event(f"crash after {op}")
                faults.crash_at(op, faults.calls[op])
            else:  # dying after a read answered is dying before the next call
                self.call += 1
                self.after = False

        return counted


# --- the world and its processes --------------------------------------------------------------


@dataclass
class Timeline:
    world: World
    clock: FrozenClock
    open_process: Callable[[], Any]
    ctx: Context
    strategies: list[str]
    tripwire: Tripwire = field(default_factory=Tripwire)
    crashes: int = 0
    mints: int = 0
    accrued: int = 0
    log: list[str] = field(default_factory=list)

    async def restart(self) -> None:
        """The process died: a new one (its own breakers and clients) carries on."""
        self.ctx = await self.open_process()


def faults_of(world: World, port: str) -> Faults:
    found = getattr(world, port)
    assert found is not None
    return found.faults


def accrue(seq: Timeline, lamports: int) -> None:
    """New fees for the owner under a new token mint."""
    seq.mints += 1
    seq.world.bags.claimable[wallet(100 + seq.mints)] = lamports
    seq.accrued += lamports


async def play(seq: Timeline, step: Any) -> None:
    if isinstance(step, WaitStep):
        seq.clock.advance(seconds=LOCK_TTL.total_seconds() + 60)
    elif isinstance(step, ResumeStep):
        unfinished = await unfinished_runs(seq.ctx)
        if unfinished:
            run_id = unfinished[step.pick % len(unfinished)]
            await killable(seq, step.kill, runs.resume_run(seq.ctx, run_id, "cli"))
    else:
        accrue(seq, step.fees)
        strategy_id = seq.strategies[step.strategy]
        await killable(seq, step.kill, runs.start_run(seq.ctx, strategy_id, "api"))
    seq.clock.advance(seconds=1)


async def killable(seq: Timeline, kill: Kill | None, going: Any) -> None:
    """Run a start or a resume; a crash is a dead process, and a new one carries on."""
    seq.tripwire.arm(kill)
    try:
        run = await going
        event(f"ended {run.state} {run.error.code if run.error else ''}".strip())
    except Crash:
        seq.crashes += 1
        await seq.restart()
    except runs.AppError as exc:  # 409 while a live run lock is held
        seq.log.append(f"refused: {exc}")
    finally:
        seq.tripwire.disarm(seq.world)


async def unfinished_runs(ctx: Context) -> list[str]:
    async with ctx.db.read() as session:
        rows = await session.scalars(
            select(Run.run_id).where(Run.state != "COMPLETE").order_by(Run.started_at, Run.run_id)
        )
        return list(rows)


async def settle_everything(seq: Timeline) -> None:
    """Resume every run until all are complete (locks of dead processes expired first)."""
    for _ in range(MAX_SETTLE_ROUNDS):
        left = await unfinished_runs(seq.ctx)
        if not left:
            return
        seq.clock.advance(seconds=LOCK_TTL.total_seconds() + 60)
        for run_id in left:
            await killable(seq, None, runs.resume_run(seq.ctx, run_id, "cli"))
    left = await unfinished_runs(seq.ctx)
    async with seq.ctx.db.read() as session:
        errors = [
            (r.state, r.error_code, r.error_detail)
            for r in await session.scalars(select(Run).where(Run.run_id.in_(left)))
        ]
    raise AssertionError(f"runs still unfinished after {MAX_SETTLE_ROUNDS} rounds: {errors}")


# --- the properties ---------------------------------------------------------------------------


@dataclass
class Books:
    """What the database says, next to what the fakes show."""

    allocations: list[AllocationSnapshot]
    runs: list[Run]
    keys: list[UserKey]
    claims: list[ClaimTransaction]
    run_strategy: dict[str, str]


async def books(ctx: Context) -> Books:
    async with ctx.db.read() as session:
        all_runs = list(await session.scalars(select(Run)))
        return Books(
            allocations=list(await session.scalars(select(AllocationSnapshot))),
            runs=all_runs,
            keys=list(await session.scalars(select(UserKey))),
            claims=list(await session.scalars(select(ClaimTransaction))),
            run_strategy={r.run_id: r.strategy_id or "" for r in all_runs},
        )


def due_by_holder(b: Books, *, provisioned_only: bool = False) -> Counter[tuple[str, str]]:
    due: Counter[tuple[str, str]] = Counter()
    for a in b.allocations:
        if provisioned_only and a.key_hash is None:
            continue
        due[(b.run_strategy[a.run_id], a.holder_wallet)] += a.allocated_cents
    return due


def holder_of_key(world: World, b: Books) -> dict[str, tuple[str, str]]:
    """Every key on the fake OpenRouter, by (strategy, holder): recorded ones by hash, keys a
    crashed attempt made by the name that attempt gave them."""
    owners = {k.openrouter_key_hash: (k.strategy_id or "", k.holder_wallet) for k in b.keys}
    names = {
        keys.key_name(b.run_strategy[a.run_id], a.holder_wallet, a.run_id): (
            b.run_strategy[a.run_id],
            a.holder_wallet,
        )
        for a in b.allocations
    }
    found = {}
    for key_hash, state in world.keys.keys.items():
        owner = owners.get(key_hash) or names.get(state.name)
        assert owner is not None, f"key {state.name} belongs to no holder"
        found[key_hash] = owner
    return found


def chain_lamports(world: World, b: Books) -> int:
    """What landed claim transactions moved to the owner."""
    return sum(
        world.chain.received.get(c.signature or "", Counter())[OWNER]
        for c in b.claims
        if world.chain.statuses.get(c.signature or "") == "confirmed"
    )


async def check_always(seq: Timeline) -> None:
    world, b = seq.world, await books(seq.ctx)
    due = due_by_holder(b)
    assert sum(due.values()) <= BOUND_CENTS
    provisioned = due_by_holder(b, provisioned_only=True)
    on_openrouter: Counter[tuple[str, str]] = Counter()
    for key_hash, owner in holder_of_key(world, b).items():
        limit = world.keys.keys[key_hash].limit
        on_openrouter[owner] += int((limit or 0) * 100)
    for owner in set(due) | set(on_openrouter):
        assert provisioned[owner] <= on_openrouter[owner] <= due[owner] <= KEY_CAP_CENTS, owner
    # Every claim the chain moved is a recorded transaction of some run: nothing unaccounted.
    released = sum(
        sum(m.values()) for s, m in world.chain.received.items() if s.startswith("sig-claim")
    )
    assert chain_lamports(world, b) == released
    assert sum(r.claimed_lamports or 0 for r in b.runs) <= released
    assert sum(r.swapped_usdc_base_units or 0 for r in b.runs) <= world.chain.usdc[OWNER]


async def check_final(seq: Timeline) -> dict[str, int]:
    world, b = seq.world, await books(seq.ctx)
    assert {r.state for r in b.runs} <= {"COMPLETE"}
    due = due_by_holder(b)
    assert all(a.key_hash is not None for a in b.allocations)
    live = [k for k in b.keys if k.status == "ACTIVE"]
    by_owner = {(k.strategy_id or "", k.holder_wallet): k for k in live}
    assert len(by_owner) == len(live)  # one live key per holder and strategy
    assert set(by_owner) == set(due)
    assert set(world.keys.keys) == {k.openrouter_key_hash for k in live}  # no key left over
    for owner, cents in due.items():
        key = by_owner[owner]
        assert world.keys.keys[key.openrouter_key_hash].limit * 100 == cents, owner
        assert key.limit_usd_cents == cents, owner
    assert sum(due.values()) <= BOUND_CENTS

    # Lamports and USDC: counted once each, exactly what the chain moved.
    claimed = sum(r.claimed_lamports or 0 for r in b.runs)
    moved = chain_lamports(world, b)
    assert claimed == moved
    # What is not claimed yet (a run refused with 409 leaves its fees) is still claimable.
    assert moved + sum(world.bags.claimable.values()) == seq.accrued
    swaps = [r.swap_tx_sig for r in b.runs if r.swap_tx_sig]
    assert len(swaps) == len(set(swaps))  # one swap per run, none counted by two runs
    usdc = sum(r.swapped_usdc_base_units or 0 for r in b.runs)
    assert usdc == world.chain.usdc[OWNER]
    assert usdc == sum(world.chain.usdc_moved[s][OWNER] for s in swaps)
    return {"runs": len(b.runs), "lamports": claimed, "usdc": usdc, "cents": sum(due.values())}


# --- the test -------------------------------------------------------------------------------


async def sequence_holds(template: Path, workdir: Path, sequence: list[Any]) -> dict[str, int]:
    db_path = workdir / "arenabrain.db"
    shutil.copyfile(template, db_path)
    env = {
        "APP_ENV": "test",
        "DATABASE_PATH": str(db_path),
        "SCHEDULER_ENABLED": "false",
        "KEY_ENCRYPTION_KEY": KEK,
        "MAX_DAILY_RUNS": "0",
        "BACKUP_PATH": str(workdir / "backups"),
    }
    config = load_settings(env)
    clock = FrozenClock(datetime(2026, 3, 1, tzinfo=UTC))
    world = World()
    for holder, amount in HOLDERS.items():
        world.holders.hold(holder, amount)
    world.keys.total_credits = Decimal(CREDITS_USD)
    world.bags.txs_per_position = 2
    async with AsyncExitStack() as stack:

        async def open_process() -> Context:
            ctx = await stack.enter_async_context(
                open_context(config, clock=clock, transports={}, migrate=False)
            )
            return replace(ctx, clients=world.clients, sleep=FakeSleep())

        ctx = await open_process()
        limits = {"default_limit_usd": 100, "limit_reset": None}
        strategy_ids = [(await make_strategy(ctx, key_config=limits)).strategy_id for _ in range(2)]
        seq = Timeline(world, clock, open_process, ctx, strategy_ids)
        seq.tripwire.install(world)
        # History: the first strategy's holders have keys, so its runs top them up.
        await play(seq, RunStep(0, 500_000_000))
        for step in sequence:
            await play(seq, step)
            await check_always(seq)
        await settle_everything(seq)
        await check_always(seq)
        counts = await check_final(seq)
        counts["crashes"] = seq.crashes
        return counts


TOTALS: Counter[str] = Counter()


@pytest.fixture(scope="module", autouse=True)
def print_totals(request: pytest.FixtureRequest) -> Iterator[None]:
    """The counts of every final check of this module, written at its end."""
    yield
    if TOTALS:
        counts = " ".join(f"{name}={n}" for name, n in sorted(TOTALS.items()))
        report(request.config, f"money property checks: {counts}")


@seed(20260301)  # fixed: the same 40 sequences on every run
@settings(
    max_examples=40,
    deadline=None,
    database=None,
    phases=(Phase.explicit, Phase.generate, Phase.shrink),  # no slow "explain" phase
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(sequence=steps)
def test_any_sequence_of_runs_crashes_other_runs_and_resumes_keeps_the_money_exact(
    migrated_template: Path, tmp_path_factory: pytest.TempPathFactory, sequence: list[Any]
) -> None:
    note(f"sequence: {sequence}")
    workdir = tmp_path_factory.mktemp("money")
    counts = asyncio.run(sequence_holds(migrated_template, workdir, sequence))
    TOTALS.update(counts)
    TOTALS["examples"] += 1
