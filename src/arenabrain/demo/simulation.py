"""Simulated weeks of the whole service: the scheduled jobs of both systems run at every
instant they fire (`timeline`), on a clock that jumps from one instant to the next (the world
moves with it: prices, resolutions, the token's fees, the keys' usage); a CreditBrain strategy
claims, swaps, allocates and provisions on its own schedule, and the demo's holder collects its
key through the public collection route, with a signature of its wallet, as soon as one waits."""

from __future__ import annotations

from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, Protocol

import httpx
from fastapi import FastAPI

from arenabrain.context import Context
from arenabrain.credits import runs, strategies
from arenabrain.credits.schemas import RunView, StrategyCreate
from arenabrain.demo.timeline import demo_jobs, fire_times
from arenabrain.demo.world import DemoWorld
from arenabrain.jobs import CronJob
from arenabrain.logging import get_logger

# The demo's strategy: the token's top holders, weighted by balance, paid twice a week.
STRATEGY_SCHEDULE = "0 8 * * 1,4"  # Mondays and Thursdays 08:00 UTC
STRATEGY_TOP_N = 25
STRATEGY_MIN_CLAIM_SOL = Decimal("0.1")
STRATEGY_KEY_LIMIT_USD = Decimal("100")


class Reporter(Protocol):
    """Where the simulation tells what it is doing (the CLI's progress display)."""

    def tick(self, moment: datetime, jobs: Sequence[str]) -> None: ...

    def say(self, moment: datetime, text: str) -> None: ...


@dataclass
class CollectedKey:
    wallet: str
    key_hash: str
    key_prefix: str  # the plaintext's first characters: the rest was shown once, to the holder
    spending_limit_usd: Decimal
    collected_at: datetime


@dataclass
class Happenings:
    """What the simulated weeks did, for the summary and the tests."""

    start: datetime
    end: datetime
    instants: int = 0
    last: datetime | None = None  # the last instant a job ran at
    pool_credits: float = 0.0  # the OpenRouter credits the operator funded (bounds allocations)
    job_runs: Counter[str] = field(default_factory=Counter)
    failures: list[str] = field(default_factory=list)
    cohorts_started: int = 0
    decisions: int = 0
    decision_errors: int = 0
    markets_resolved: int = 0
    positions_settled: int = 0
    snapshots: int = 0
    backups: list[str] = field(default_factory=list)
    run_ids: list[str] = field(default_factory=list)
    strategy_id: str = ""
    collected: CollectedKey | None = None


Collect = Callable[[DemoWorld], Awaitable[CollectedKey | None]]


async def create_strategy(ctx: Context, demo: DemoWorld) -> str:
    """The demo's strategy: the owner is the signer, whose wallet the token's fees accrue to."""
    owner = demo.setup.owner_wallet
    strategy = await strategies.create_strategy(
        ctx,
        StrategyCreate.of(
            owner_wallet=owner,
            distribution_token=demo.token_mint,
            distribution="TOP_N_HOLDERS",
            distribution_top_n=STRATEGY_TOP_N,
            schedule=STRATEGY_SCHEDULE,
            min_claim_threshold=STRATEGY_MIN_CLAIM_SOL,
            key_config={"default_limit_usd": STRATEGY_KEY_LIMIT_USD},
        ),
    )
    return strategy.strategy_id


async def simulate(
    ctx: Context,
    demo: DemoWorld,
    weeks: int,
    reporter: Reporter,
    collect: Collect,
    jobs: Sequence[CronJob] | None = None,
) -> Happenings:
    """Run `weeks` simulated weeks from the clock's instant (a Sunday, 00:00 UTC)."""
    start = demo.clock.now()
    end = start + timedelta(weeks=weeks)
    listed = tuple(jobs) if jobs is not None else demo_jobs()
    story = Happenings(start=start, end=end, pool_credits=demo.setup.openrouter_credits)
    story.strategy_id = await create_strategy(ctx, demo)
    last = start
    week_runs: list[RunView] = []
    for moment, due in fire_times(listed, start, end):
        if (moment - start).days // 7 != (last - start).days // 7:
            _roll_up(reporter, last, week_runs)
        last = moment
        demo.clock.set(max(moment, demo.clock.now()))  # waits may have moved it on already
        reporter.tick(moment, [job.name for job in due])
        story.instants += 1
        story.last = moment
        for job in due:
            result = await _run(ctx, job, story, moment)
            if job.name == "credits-scheduled-runs" and isinstance(result, dict):
                week_runs.extend(await _runs_started(ctx, demo, result, story, reporter, collect))
            else:
                _note(job.name, result, story, moment, reporter)
    _roll_up(reporter, last, week_runs)
    demo.clock.set(max(end, demo.clock.now()))
    return story


async def _run(ctx: Context, job: CronJob, story: Happenings, moment: datetime) -> Any:
    """The job's own function, as the scheduler calls it; a failure is noted, not raised."""
    story.job_runs[job.name] += 1
    try:
        return await job.func(ctx)
    except Exception as exc:
        get_logger(job=job.name).error("job failed", err=exc)
        story.failures.append(f"{moment:%a %d %b %H:%M} {job.name}: {exc}")
        return None


def _note(name: str, result: Any, story: Happenings, moment: datetime, reporter: Reporter) -> None:
    """Keep the count of what an arena job did, and tell the notable part."""
    if not isinstance(result, dict):
        return
    if name == "start-cohort" and result.get("agents_created"):
        story.cohorts_started += 1
        reporter.say(
            moment,
            f"cohort {result['cohort_number']} started: {result['agents_created']} models with "
            "$10,000 each",
        )
    elif name == "run-decisions":
        story.decisions += int(result.get("total_agents", 0))
        story.decision_errors += int(result.get("total_errors", 0))
        reporter.say(moment, describe_decisions(result))
    elif name == "check-resolutions":
        resolved = int(result.get("markets_resolved", 0))
        settled = int(result.get("positions_settled", 0))
        story.markets_resolved += resolved
        story.positions_settled += settled
        if settled:
            reporter.say(
                moment,
                f"{plural(resolved, 'market')} resolved: {plural(settled, 'position')} settled",
            )
    elif name == "take-snapshots":
        story.snapshots += int(result.get("snapshots_taken", 0))
    elif name == "backup" and result.get("backup_path"):
        story.backups.append(str(result["backup_path"]))
        reporter.say(moment, f"backup written: {result['backup_path']}")


async def _runs_started(
    ctx: Context,
    demo: DemoWorld,
    result: dict[str, Any],
    story: Happenings,
    reporter: Reporter,
    collect: Collect,
) -> list[RunView]:
    """The runs the scheduled job started: the first and any that did not complete are told
    (the rest in the week's roll-up), and the holder collects its key once one waits."""
    started = []
    for run_id in result.get("started", []):
        story.run_ids.append(run_id)
        run = await runs.get_run(ctx, run_id)
        started.append(run)
        moment = run.started_at
        if len(story.run_ids) == 1 or run.state != "COMPLETE":
            reporter.say(moment, describe_run(run))
        if run.state == "COMPLETE" and story.collected is None:
            story.collected = await collect(demo)
            if story.collected is not None:
                got = story.collected
                reporter.say(
                    moment,
                    f"holder {short(got.wallet)} signed the challenge with its wallet and "
                    f"collected its key {got.key_prefix}… (limit ${got.spending_limit_usd})",
                )
    return started


def _roll_up(reporter: Reporter, moment: datetime, week_runs: list[RunView]) -> None:
    """The week's CreditBrain runs in one line."""
    if not week_runs:
        return
    complete = [run for run in week_runs if run.state == "COMPLETE"]
    claimed = sum((run.claimed_sol or Decimal(0) for run in complete), Decimal(0))
    swapped = sum((run.swapped_usdc or Decimal(0) for run in complete), Decimal(0))
    allocated = sum((run.allocated_usd or Decimal(0) for run in complete), Decimal(0))
    reporter.say(
        moment,
        f"CreditBrain this week: {len(complete)} of {plural(len(week_runs), 'run')} complete, "
        f"{claimed:.3f} SOL claimed → {swapped:,.2f} USDC, ${allocated:,.2f} allocated, "
        f"{sum(r.keys_provisioned for r in complete)} keys created, "
        f"{sum(r.keys_updated for r in complete)} topped up",
    )
    week_runs.clear()


def describe_decisions(result: dict[str, Any]) -> str:
    actions: Counter[str] = Counter()
    trades = 0
    for cohort in result.get("results", []):
        for decision in cohort.get("decisions", []):
            actions[decision.get("action", "ERROR")] += 1
            trades += int(decision.get("trades_executed") or 0)
    mix = ", ".join(f"{count} {action}" for action, count in sorted(actions.items()))
    return (
        f"decisions: {plural(int(result.get('total_agents', 0)), 'model')} of "
        f"{plural(int(result.get('cohorts_processed', 0)), 'cohort')} answered "
        f"({mix or 'none'}); {plural(trades, 'trade')}"
    )


def describe_run(run: RunView) -> str:
    if run.state != "COMPLETE":
        reason = run.error.code if run.error else run.state
        return f"CreditBrain run {run.state}: {reason}"
    return (
        f"CreditBrain run COMPLETE: claimed {run.claimed_sol or 0:.3f} SOL, swapped "
        f"{run.swapped_usdc or 0:,.2f} USDC, allocated ${run.allocated_usd or 0:,.2f}, "
        f"{run.keys_provisioned} keys created, {run.keys_updated} topped up"
    )


def plural(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"


def short(wallet: str) -> str:
    return f"{wallet[:4]}…{wallet[-4:]}"


async def collect_over_http(app: FastAPI, demo: DemoWorld) -> CollectedKey | None:
    """The holder collects its key as a wallet app would: ask the public route for a challenge,
    sign its message with the wallet's key, and send the signature. None when no key waits."""
    wallet = demo.holder_wallet
    transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 50000))
    async with httpx.AsyncClient(transport=transport, base_url="http://sandbox") as http:
        challenge = await http.post("/api/keys/claim/challenge", json={"wallet": wallet})
        if challenge.status_code == 404:
            return None
        challenge.raise_for_status()
        body = challenge.json()
        signature = demo.holder.sign_message(body["message"].encode())
        claimed = await http.post(
            "/api/keys/claim",
            json={"wallet": wallet, "nonce": body["nonce"], "signature": str(signature)},
        )
        claimed.raise_for_status()
        key = claimed.json()
    return CollectedKey(
        wallet=key["wallet"],
        key_hash=key["keyHash"],
        key_prefix=key["key"][:14],
        spending_limit_usd=Decimal(str(key["spendingLimitUsd"])),
        collected_at=demo.clock.now(),
    )
