"""run-decisions: every agent of every decision-eligible cohort answers this week (§5.3, §6.1).

The run bootstraps the week's cohort when the start window allows it, loads the top markets
once, and then processes all agents of all eligible cohorts concurrently (at most
`ARENA_DECISION_CONCURRENCY` at a time, no sleeps), so a run of 5 cohorts x 7 models takes about
as long as its slowest calls rather than their sum. The whole run is bounded by a 10-minute
budget; an agent still working when it runs out is stopped and its claim released.

Each agent is its own unit of work:

1. a bankrupt agent is skipped (no row, no call);
2. its canonical row for the week is claimed (`claims`), or the agent is skipped because an
   earlier or concurrent run has it;
3. the model is asked (one malformed-output retry with the retry prompt, then a HOLD with
   reasoning `[SYSTEM DEFAULT] ...`); transport errors are not retried;
4. prices for the markets a BET/SELL names are fetched from the CLOB (missing ones once more);
5. one write transaction finalizes the row, records its cost and executes the trades, after
   checking the claim is still this run's; anything that fails on the way marks the row ERROR
   so the next run asks again.

What a run reads (cohorts, markets, agents, portfolios, CLOB prices) comes from `loading`.
Durations (the budget, `duration_ms`) use the event loop's monotonic clock; every timestamp
written comes from the injected clock."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Coroutine, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from arenabrain.arena import cohorts
from arenabrain.arena.decisions import claims, loading, prompts
from arenabrain.arena.decisions.loading import AgentRef, CohortRef
from arenabrain.arena.decisions.parser import ParsedDecision, default_hold, parse_decision
from arenabrain.arena.execution.trades import (
    ExecutionReport,
    execute_bets,
    execute_sells,
)
from arenabrain.arena.models import (
    ApiCost,
    Cohort,
    Decision,
)
from arenabrain.arena.system_logs import log_event
from arenabrain.arena.weeks import decision_week
from arenabrain.clients.openrouter.chat import ChatResult, OpenRouterChatError
from arenabrain.clients.polymarket import PolymarketError
from arenabrain.context import Context
from arenabrain.db.ids import new_id

RUN_BUDGET_SECONDS = 600.0
MALFORMED_RETRIES = 1
BUDGET_MESSAGE = "Decision run budget of 600s exhausted before this agent finished"
STOPPED_MESSAGE = (
    "Decision run stopped (budget exhausted or run cancelled) before this agent finished"
)
SAMPLE_ERRORS = 5


class LostClaim(Exception):
    """Another run reclaimed this agent's row while this run was working on it."""


# --- what a run works on -------------------------------------------------------------------


@dataclass
class AgentResult:
    agent_id: str
    model_id: str
    decision_id: str = ""
    action: str = "ERROR"
    success: bool = False
    trades_executed: int | None = None
    error: str | None = None

    def body(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "agent_id": self.agent_id,
            "model_id": self.model_id,
            "decision_id": self.decision_id,
            "action": self.action,
            "success": self.success,
        }
        if self.trades_executed is not None:
            out["trades_executed"] = self.trades_executed
        if self.error is not None:
            out["error"] = self.error
        return out


@dataclass
class CohortRun:
    cohort: CohortRef
    week: int
    agents: list[AgentRef]
    tasks: list[asyncio.Task[AgentResult]] = field(default_factory=list)
    results: list[AgentResult] = field(default_factory=list)

    def errors(self) -> list[str]:
        names = {a.id: a.display_name for a in self.agents}
        return [f"{names[r.agent_id]}: {r.error}" for r in self.results if r.error]


@dataclass
class Attempts:
    """What the model calls of one decision cost, all attempts together."""

    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost: Decimal = Decimal(0)
    last: ChatResult | None = None

    def add(self, result: ChatResult) -> None:
        self.prompt_tokens += result.prompt_tokens
        self.completion_tokens += result.completion_tokens
        self.cost += result.cost_usd
        self.last = result


# --- the job -------------------------------------------------------------------------------


async def run_decisions(ctx: Context) -> dict[str, Any]:
    """Ask every agent of the decision-eligible cohorts for this week's decision, and trade it."""
    loop = asyncio.get_running_loop()
    started = loop.time()
    try:
        return await _run(ctx, started)
    except Exception as exc:
        async with ctx.db.write() as session:
            await log_event(
                session, "decisions_run_error", {"error": str(exc)}, "error", ctx.clock.now()
            )
        raise


async def _run(ctx: Context, started: float) -> dict[str, Any]:
    loop = asyncio.get_running_loop()
    settings = ctx.settings
    bootstrap = await bootstrap_cohort(ctx)
    now = ctx.clock.now()
    async with ctx.db.read() as session:
        tracking = await session.scalar(
            select(func.count())
            .select_from(Cohort)
            .where(Cohort.status == "active", Cohort.is_archived == 0)
        )
        eligible = await loading.eligible_cohorts(session, settings.decision_cohort_limit)
        markets = await loading.top_markets(session, settings.top_markets_count)
    lines = tuple(loading.market_line(m) for m in markets)
    runs: list[CohortRun] = []
    for cohort in eligible:
        try:
            async with ctx.db.read() as session:
                agents = await loading.decision_agents(session, cohort.id)
            runs.append(CohortRun(cohort, decision_week(cohort.started_at, now), agents))
        except Exception as exc:
            async with ctx.db.write() as session:
                await log_event(
                    session,
                    "cohort_decisions_error",
                    {"cohort_id": cohort.id, "error": str(exc)},
                    "error",
                    now,
                )
    gate = asyncio.Semaphore(settings.arena_decision_concurrency)
    system = prompts.system_prompt()
    remaining = RUN_BUDGET_SECONDS - (loop.time() - started)
    try:
        async with asyncio.timeout(max(remaining, 0.001)), asyncio.TaskGroup() as group:
            for run in runs:
                for agent in run.agents:
                    run.tasks.append(
                        group.create_task(
                            process_agent(ctx, gate, run.cohort, run.week, agent, system, lines)
                        )
                    )
    except TimeoutError:
        pass  # the group cancelled whoever was still working; they released their claims
    for run in runs:
        for agent, task in zip(run.agents, run.tasks, strict=True):
            if task.cancelled():
                run.results.append(AgentResult(agent.id, agent.model_id, error=BUDGET_MESSAGE))
            else:
                run.results.append(task.result())
    return await _summarise(
        ctx, runs, bootstrap, tracking or 0, len(eligible), loop.time() - started
    )


async def _summarise(
    ctx: Context,
    runs: Sequence[CohortRun],
    bootstrap: dict[str, Any] | None,
    tracking: int,
    eligible: int,
    elapsed: float,
) -> dict[str, Any]:
    now = ctx.clock.now()
    limit = ctx.settings.decision_cohort_limit
    results = []
    async with ctx.db.write() as session:
        for run in runs:
            errors = run.errors()
            await log_event(
                session,
                "cohort_decisions_complete",
                {
                    "cohort_id": run.cohort.id,
                    "cohort_number": run.cohort.number,
                    "week_number": run.week,
                    "agents_processed": len(run.results),
                    "errors": len(errors),
                },
                "info",
                now,
            )
            results.append(
                {
                    "cohort_id": run.cohort.id,
                    "cohort_number": run.cohort.number,
                    "week_number": run.week,
                    "agents_processed": len(run.results),
                    "decisions": [r.body() for r in run.results],
                    "errors": errors,
                }
            )
        all_errors = [e for run in runs for e in run.errors()]
        total_agents = sum(len(run.results) for run in runs)
        successful = sum(1 for run in runs for r in run.results if r.success)
        summary = {
            "cohorts_processed": len(runs),
            "decision_cohort_limit": limit,
            "tracking_active_cohorts": tracking,
            "decision_eligible_cohorts": eligible,
            "total_agents": total_agents,
            "total_errors": len(all_errors),
            "successful_agents": successful,
            "duration_ms": int(elapsed * 1000),
        }
        failed = total_agents > 0 and len(all_errors) >= total_agents and successful == 0
        if failed:
            message = failure_message(total_agents, len(runs), len(all_errors), all_errors[0])
            await log_event(
                session,
                "decisions_run_failed",
                {**summary, "error": message, "sample_errors": all_errors[:SAMPLE_ERRORS]},
                "error",
                now,
            )
        else:
            await log_event(session, "decisions_run_complete", summary, "info", now)
    if failed:
        ctx.log.error("decision run failed", **summary)
    else:
        ctx.log.info("decision run complete", **summary)
    body: dict[str, Any] = {
        "success": not failed,
        "cohort_bootstrap": bootstrap,
        "decision_cohort_limit": limit,
        "tracking_active_cohorts": tracking,
        "decision_eligible_cohorts": eligible,
        "cohorts_processed": len(runs),
        "total_agents": total_agents,
        "total_errors": len(all_errors),
        "duration_ms": summary["duration_ms"],
        "results": results,
    }
    if failed:
        body["error"] = message
    return body


def failure_message(agents: int, cohorts: int, errors: int, first: str) -> str:
    """The 502 message of a run in which every processed agent failed."""

    def plural(n: int, word: str) -> str:
        return f"{n} {word}" + ("" if n == 1 else "s")

    return (
        f"Decision run failed for all {agents} processed {'agent' if agents == 1 else 'agents'} "
        f"across {plural(cohorts, 'decision cohort')} with {plural(errors, 'error')}. "
        f"First error: {first}"
    )


# --- one agent -----------------------------------------------------------------------------


async def process_agent(
    ctx: Context,
    gate: asyncio.Semaphore,
    cohort: CohortRef,
    week: int,
    agent: AgentRef,
    system: str,
    markets: Sequence[prompts.MarketLine],
) -> AgentResult:
    """One agent's decision for the week, start to finish; never raises (except cancellation)."""
    result = AgentResult(agent.id, agent.model_id)
    if agent.status == "bankrupt":
        result.action, result.success = "SKIPPED", True
        return result
    async with gate:
        claim: claims.Claim | None = None
        work = _Work()
        try:
            claiming = asyncio.ensure_future(
                claims.claim_decision(
                    ctx.db,
                    agent_id=agent.id,
                    cohort_id=cohort.id,
                    decision_week=week,
                    now=ctx.clock.now(),
                )
            )
            try:
                claim = await asyncio.shield(claiming)
            except asyncio.CancelledError:
                # The claim's commit may land after this run was stopped: wait for it, so the
                # handler below can release a claim that did land.
                claim = await _outcome(claiming)
                raise
            except Exception as exc:
                await _log_claim_failure(ctx, cohort, agent, exc)
                raise
            result.decision_id = claim.decision_id
            if not claim.claimed:
                return _skipped(result, claim)
            async with asyncio.timeout(claims.AGENT_TIME_LIMIT.total_seconds()):
                return await _decide(ctx, result, claim, week, agent, system, markets, work)
        except asyncio.CancelledError:
            if claim is not None and claim.claimed:
                try:
                    await _mark_error(ctx, claim, agent, work, STOPPED_MESSAGE)
                except Exception as mark_exc:  # the row stays in progress until it goes stale
                    # Raising anything but the cancellation here would take every other agent
                    # of the run down with it (an ExceptionGroup out of the task group).
                    ctx.log.error(
                        "could not release a stopped decision", err=mark_exc, agent_id=agent.id
                    )
            raise
        except Exception as exc:
            message = _describe(exc)
            result.action, result.success, result.error = "ERROR", False, message
            if claim is not None and claim.claimed:
                try:
                    await _mark_error(ctx, claim, agent, work, message)
                except Exception as mark_exc:  # the row stays in progress until it goes stale
                    ctx.log.error(
                        "could not mark decision as failed", err=mark_exc, agent_id=agent.id
                    )
            return result


async def _log_claim_failure(
    ctx: Context, cohort: CohortRef, agent: AgentRef, exc: Exception
) -> None:
    """A claim that failed before it was held leaves no decision row: log it
    (`cohort_decisions_error`, as the runbook's error query expects) so it is not silent."""
    data = {"cohort_id": cohort.id, "agent_id": agent.id, "error": _describe(exc)}
    try:
        async with ctx.db.write() as session:
            await log_event(session, "cohort_decisions_error", data, "error", ctx.clock.now())
    except Exception as log_exc:  # e.g. the database is still locked: the process log has it
        ctx.log.error("decision claim failed", err=log_exc, **data)


async def _outcome(claiming: asyncio.Future[claims.Claim]) -> claims.Claim | None:
    """The claim once its transaction has finished, or None if it failed."""
    try:
        return await claiming
    except Exception:
        return None


def _skipped(result: AgentResult, claim: claims.Claim) -> AgentResult:
    if claim.existing_action in ("BET", "SELL") and claim.existing_error:
        result.action, result.success, result.error = (
            claim.existing_action,
            False,
            claim.existing_error,
        )
    else:
        result.action, result.success = "SKIPPED", True
    return result


@dataclass
class _Work:
    """What an agent's processing has produced so far (for the error path)."""

    user_prompt: str = ""
    raw: str | None = None
    retries: int = 0
    attempts: Attempts = field(default_factory=Attempts)


async def _decide(
    ctx: Context,
    result: AgentResult,
    claim: claims.Claim,
    week: int,
    agent: AgentRef,
    system: str,
    markets: Sequence[prompts.MarketLine],
    work: _Work,
) -> AgentResult:
    async with ctx.db.read() as session:
        cash, positions = await loading.portfolio(session, agent.id)
    work.user_prompt = prompts.user_prompt(
        prompts.PromptInput(ctx.clock.now().date(), week, cash, positions, markets)
    )
    parsed = await _ask(ctx, agent, system, cash, work)
    prices: dict[tuple[str, str], Decimal | None] = {}
    if parsed.action in ("BET", "SELL"):
        prices = await loading.execution_prices(ctx, parsed)
    return await _uninterrupted(_commit(ctx, result, claim, agent, parsed, system, work, prices))


async def _commit(
    ctx: Context,
    result: AgentResult,
    claim: claims.Claim,
    agent: AgentRef,
    parsed: ParsedDecision,
    system: str,
    work: _Work,
    prices: Mapping[tuple[str, str], Decimal | None],
) -> AgentResult:
    """The finalizing unit of work: check the claim, finalize the row, record the cost, trade."""
    async with ctx.db.write() as session:
        now = ctx.clock.now()
        if not await claims.still_held(session, claim):
            raise LostClaim("Another run reclaimed this decision; its result was discarded")
        report = await _finalize(session, claim, agent, parsed, system, work, prices, now)
        result.action = parsed.action
        if report is not None and report.attempted > 0 and report.executed < report.attempted:
            error = "; ".join(report.errors) or _fallback_error(parsed.action, report)
            await session.execute(
                update(Decision).where(Decision.id == claim.decision_id).values(error_message=error)
            )
            await log_event(
                session,
                "agent_decision_execution_failed",
                {
                    "agent_id": agent.id,
                    "decision_id": claim.decision_id,
                    "action": parsed.action,
                    "attempted_trades": report.attempted,
                    "trades_executed": report.executed,
                    "errors": report.errors,
                },
                "error",
                now,
            )
            result.success, result.error = False, error
            return result
    result.success = True
    result.trades_executed = report.executed if report is not None else 0
    return result


async def _uninterrupted(work: Coroutine[Any, Any, AgentResult]) -> AgentResult:
    """Run the finalizing transaction to its end even if the agent's time limit or the run's
    budget runs out meanwhile. Cancelled mid-commit, the commit may still land (the driver
    finishes it), and the agent would be reported failed with its trades saved; so a stop waits
    for the transaction and reports what it did. The wait is short: one write transaction,
    whose lock wait is bounded by the busy timeout."""
    task = asyncio.ensure_future(work)
    try:
        return await asyncio.shield(task)
    except asyncio.CancelledError:
        while not task.done():
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.wait({task})
        return task.result()  # the commit's own error, if it failed


async def _ask(
    ctx: Context, agent: AgentRef, system: str, cash: Decimal, work: _Work
) -> ParsedDecision:
    """Call the model, parse, retry once on malformed output, else the default HOLD."""
    user = work.user_prompt
    while True:
        answer = await ctx.clients.chat.complete(
            model=agent.openrouter_id, system=system, user=user, prices=agent.prices
        )
        work.attempts.add(answer)
        work.raw = answer.text
        parsed = parse_decision(answer.text, cash)
        if parsed.is_valid:
            return parsed
        if work.retries >= MALFORMED_RETRIES:
            return default_hold(parsed.error or "Unknown parse error", work.retries)
        work.retries += 1
        user = prompts.retry_prompt(
            work.user_prompt, answer.text, parsed.error or "Unknown parse error"
        )


async def _finalize(
    session: AsyncSession,
    claim: claims.Claim,
    agent: AgentRef,
    parsed: ParsedDecision,
    system: str,
    work: _Work,
    prices: Mapping[tuple[str, str], Decimal | None],
    now: datetime,
) -> ExecutionReport | None:
    attempts = work.attempts
    last = attempts.last
    finalized = await session.execute(
        update(Decision)
        .where(claims.claim_guard(claim))
        .values(
            decision_timestamp=now,
            prompt_system=system,
            prompt_user=work.user_prompt,
            raw_response=work.raw,
            parsed_response=parsed.to_json(),
            retry_count=work.retries,
            action=parsed.action,
            reasoning=parsed.reasoning,
            tokens_input=attempts.prompt_tokens,
            tokens_output=attempts.completion_tokens,
            api_cost_usd=float(attempts.cost),
            response_time_ms=last.latency_ms if last is not None else None,
            error_message=None,
            p_yes_flags=parsed.flags_json(),
        )
    )
    if not getattr(finalized, "rowcount", 0):  # the claim was lost after all: trade nothing
        raise LostClaim("Another run reclaimed this decision; its result was discarded")
    await record_cost(session, claim.decision_id, agent, attempts, now)
    if parsed.action == "BET":
        return await execute_bets(
            session,
            agent_id=agent.id,
            decision_id=claim.decision_id,
            lineage=agent.lineage,
            bets=parsed.bets,
            prices=prices,
            now=now,
        )
    if parsed.action == "SELL":
        return await execute_sells(
            session,
            agent_id=agent.id,
            decision_id=claim.decision_id,
            lineage=agent.lineage,
            sells=parsed.sells,
            prices=prices,
            now=now,
        )
    return None


def _fallback_error(action: str, report: ExecutionReport) -> str:
    if action == "BET":
        return "All bet executions failed"
    failed = report.attempted - report.executed
    return f"{failed} sell execution(s) failed after {report.executed} succeeded"


async def record_cost(
    session: AsyncSession,
    decision_id: str,
    agent: AgentRef,
    attempts: Attempts,
    now: datetime,
) -> None:
    """Upsert the decision's `api_costs` row: every attempt's tokens and cost, not the last only."""
    values = {
        "model_id": agent.model_id,
        "agent_id": agent.id,
        "family_id": agent.lineage.family_id,
        "release_id": agent.lineage.release_id,
        "benchmark_config_model_id": agent.lineage.benchmark_config_model_id,
        "tokens_input": attempts.prompt_tokens,
        "tokens_output": attempts.completion_tokens,
        "cost_usd": float(attempts.cost),
    }
    existing = await session.scalar(select(ApiCost.id).where(ApiCost.decision_id == decision_id))
    if existing is not None:
        await session.execute(update(ApiCost).where(ApiCost.id == existing).values(**values))
    else:
        await session.execute(
            insert(ApiCost).values(
                id=new_id(now), decision_id=decision_id, recorded_at=now, **values
            )
        )


async def _mark_error(
    ctx: Context, claim: claims.Claim, agent: AgentRef, work: _Work, message: str
) -> None:
    """Turn this run's claimed row into a final ERROR (the next run asks again)."""
    now = ctx.clock.now()
    attempts = work.attempts
    spent = attempts.last is not None
    async with ctx.db.write() as session:
        marked = await session.execute(
            update(Decision)
            .where(claims.claim_guard(claim))
            .values(
                decision_timestamp=now,
                prompt_system=prompts.system_prompt() or claims.IN_PROGRESS,
                prompt_user=work.user_prompt or claims.IN_PROGRESS,
                raw_response=work.raw,
                parsed_response=None,
                retry_count=work.retries,
                action="ERROR",
                tokens_input=attempts.prompt_tokens if spent else None,
                tokens_output=attempts.completion_tokens if spent else None,
                api_cost_usd=float(attempts.cost) if spent else None,
                response_time_ms=None,
                error_message=message,
                p_yes_flags=None,
            )
        )
        if getattr(marked, "rowcount", 0) and spent:
            await record_cost(session, claim.decision_id, agent, attempts, now)
        await log_event(
            session,
            "agent_decision_error",
            {"agent_id": agent.id, "model_id": agent.model_id, "error": message},
            "error",
            now,
        )


def _describe(exc: BaseException) -> str:
    if isinstance(exc, OpenRouterChatError | PolymarketError | LostClaim | claims.ClaimError):
        return str(exc)
    if isinstance(exc, TimeoutError):
        return f"Agent decision exceeded {int(claims.AGENT_TIME_LIMIT.total_seconds())}s"
    return str(exc) or type(exc).__name__


# --- the cohort this run may start ----------------------------------------------------------


async def bootstrap_cohort(ctx: Context) -> dict[str, Any] | None:
    """This week's cohort, created first when the start window allows it (the cohort job's
    rule); None when there is none and it may not be created now."""
    start = await cohorts.maybe_start_cohort(ctx, force=False)
    if not start.success or start.cohort is None:
        return None
    return {"cohort_id": start.cohort.id, "cohort_number": start.cohort.cohort_number}
