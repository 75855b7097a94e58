"""Runs that go on after POST /api/runs has answered: owned by the app's lifespan.

`lifespan` (the credits router's, merged into the app's by FastAPI, inside the app's own, so
the context is open for its whole life) opens one `asyncio.TaskGroup`. `BackgroundRuns.start`
starts `runs.start_run` in it and returns as soon as the run exists; anything refused before
that (404, 409, 403, ...) is raised to the caller as it would be synchronously.

On shutdown the runs in flight get SHUTDOWN_GRACE seconds to finish; the others are cancelled
once. The runner releases a cancelled run's locks (shielded); the run itself is then marked
RUN_INTERRUPTED, resumable with `arenabrain run --resume <id>`, by taking and releasing its
strategy's lock, exactly what the next taker of that lock would do."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from typing import Any

from arenabrain.context import Context
from arenabrain.credits import runs
from arenabrain.credits.locks import RunInProgress
from arenabrain.credits.schemas import RunView
from arenabrain.logging import get_logger

SHUTDOWN_GRACE = 10.0  # seconds a run in flight may take to finish before it is interrupted


class BackgroundRuns:
    def __init__(self, group: asyncio.TaskGroup) -> None:
        self._group = group
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def in_flight(self) -> int:
        return len(self._tasks)

    async def start(self, ctx: Context, strategy_id: str, trigger: str) -> RunView:
        """Start a run; returns it as soon as it exists (it then executes in the background)."""
        created: asyncio.Future[RunView] = asyncio.get_running_loop().create_future()
        task = self._group.create_task(self._run(ctx, strategy_id, trigger, created))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        # Shielded: a caller that hangs up does not stop the run it started.
        return await asyncio.shield(created)

    async def _run(
        self, ctx: Context, strategy_id: str, trigger: str, created: asyncio.Future[RunView]
    ) -> None:
        def told(view: RunView) -> None:
            if not created.done():
                created.set_result(view)

        view: RunView | None = None
        try:
            view = await runs.start_run(ctx, strategy_id, trigger, on_created=told)
        except asyncio.CancelledError:
            if not created.done():
                created.cancel()
            else:
                await _mark_interrupted(ctx, strategy_id)
            raise
        except Exception as exc:  # never let one run's failure cancel the others
            if not created.done():
                created.set_exception(exc)
            else:
                get_logger().error("Background run stopped", strategyId=strategy_id, err=exc)
        if view is not None:
            get_logger(runId=view.run_id).info("Background run ended", state=view.state)

    async def drain(self, grace: float | None = None) -> None:
        """Let the runs in flight finish within `grace` seconds (SHUTDOWN_GRACE), then
        interrupt the rest."""
        grace = SHUTDOWN_GRACE if grace is None else grace
        pending = set(self._tasks)
        if not pending:
            return
        get_logger().info("Waiting for runs in flight", runs=len(pending), graceS=grace)
        _, late = await asyncio.wait(pending, timeout=grace)
        for task in late:
            task.cancel()
        if late:
            get_logger().warning("Interrupting runs still in flight at shutdown", runs=len(late))
            await asyncio.wait(late)


async def _mark_interrupted(ctx: Context, strategy_id: str) -> None:
    """Take and release the strategy's lock: that marks its unfinished run RUN_INTERRUPTED."""
    with suppress(RunInProgress):  # someone else owns the strategy now; they decide
        async with runs.run_lock(ctx, strategy_id):
            pass


@asynccontextmanager
async def lifespan(app: Any) -> AsyncIterator[None]:
    """The task group that owns background runs, for the app's whole life."""
    async with asyncio.TaskGroup() as group:
        background = BackgroundRuns(group)
        app.state.credit_runs = background
        try:
            yield
        finally:
            await background.drain()
