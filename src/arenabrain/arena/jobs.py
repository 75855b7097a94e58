"""The arena's jobs on the in-process scheduler (UTC, standard crontab), the runbook's section 3
schedule. Each one is the same function its cron route and CLI command call."""

from __future__ import annotations

from arenabrain.arena import backups, cohorts, lineup, markets, resolution, snapshots
from arenabrain.arena.decisions import engine as decisions
from arenabrain.jobs import CronJob

JOBS = (
    CronJob("sync-markets", "*/5 * * * *", markets.sync_markets),
    CronJob("start-cohort", "0 0 * * 0", cohorts.start_cohort),
    CronJob("check-model-lineup", "0 9 * * 1", lineup.check_model_lineup),
    CronJob("run-decisions", "5 0 * * 0", decisions.run_decisions),
    CronJob("check-resolutions", "0 * * * *", resolution.check_resolutions),
    CronJob("take-snapshots", "*/10 * * * *", snapshots.take_snapshots),
    CronJob("backup", "0 23 * * 6", backups.backup),
)
