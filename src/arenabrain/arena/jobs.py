"""Arena jobs on the in-process scheduler (UTC, standard crontab). Each one is the same
function its cron route and CLI command call."""

from __future__ import annotations

from arenabrain.arena import backups, cohorts, lineup, markets, resolution, snapshots
from arenabrain.arena.decisions import engine as decisions
from arenabrain.scheduler import registry

registry.cron("sync-markets", "*/5 * * * *", markets.sync_markets)
registry.cron("start-cohort", "0 0 * * 0", cohorts.start_cohort)
registry.cron("check-model-lineup", "0 9 * * 1", lineup.check_model_lineup)
registry.cron("run-decisions", "5 0 * * 0", decisions.run_decisions)
registry.cron("check-resolutions", "0 * * * *", resolution.check_resolutions)
registry.cron("take-snapshots", "*/10 * * * *", snapshots.take_snapshots)
registry.cron("backup", "0 23 * * 6", backups.backup)
