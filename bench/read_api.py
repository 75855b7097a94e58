"""Benchmark the public read API with a year of history: every public GET route against
`/health/live` on the same server in the same run, and `/health/live` against a bare FastAPI
route (bench/bare_app.py) started the same way.

1. Seed a temporary SQLite database with a year of arena history by bulk SQL (the rows the
   jobs write, in their shapes): 52 weekly cohorts of the default lineup's 7 agents, 520
   markets (320 of them resolved), five decision weeks per agent with their BUY trades
   (`p_yes` on most), positions settled or open, the anchor's Brier rows, and a snapshot every
   10 minutes for 8 days per agent (about 420,000 `portfolio_snapshots` rows).
2. Start the real app under uvicorn in a subprocess (one worker) on a free port, and the bare
   app the same way on another.
3. Time each route's first, uncached answer; then drive each route with 64 concurrent
   clients (wrk when installed, else an httpx client) and print requests/s, p50 and p99, each
   route's throughput ratio to `/health/live` (goal: at least 0.5, p99 within 5x) and
   `/health/live`'s ratio to the bare route (goal: at least 0.8).
4. The write-loop pass: the same read load again while another process
   (bench/write_loop.py) runs `take-snapshots` and `sync-markets` against the same database
   in a loop; print the same table, the writer's loops, errors and "database is locked"
   count, and how many of the server's log lines say "database is locked" (goal: 0 errors).

Prints figures; asserts nothing about wall-clock time.

Run: `.venv/bin/python bench/read_api.py [--seconds 5] [--connections 64]`"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import re
import shutil
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

import httpx  # noqa: E402

from arenabrain.arena.scoring import confidence_brier  # noqa: E402
from arenabrain.arena.seed import DEFAULT_CONFIG_ID  # noqa: E402
from arenabrain.db.migrate import upgrade  # noqa: E402

FIRST_SUNDAY = datetime(2025, 3, 2, tzinfo=UTC)
COHORTS = 52
MARKETS = 520
RESOLVED = 320
WEEKS_PER_COHORT = 5
SNAPSHOT_DAYS = 8
GOAL = 0.5
P99_GOAL = 5.0
BARE_GOAL = 0.8
PERFORMANCE_RANGES = ("10M", "1D", "1W", "1M", "ALL")
LOCKED = "database is locked"


def routes(ids: dict[str, str]) -> list[tuple[str, str]]:
    """(name, path) of every public GET route, `/health/live` first; ids from the seed."""
    return [
        ("/health/live", "/health/live"),
        ("/api/markets?limit=50", "/api/markets?limit=50"),
        ("/api/markets/{id}", f"/api/markets/{ids['market']}"),
        ("/api/cohorts", "/api/cohorts"),
        ("/api/cohorts/{id}", f"/api/cohorts/{ids['cohort']}"),
        ("/api/models/{id}", f"/api/models/{ids['family']}"),
        (
            "/api/cohorts/{id}/models/{family}",
            f"/api/cohorts/{ids['cohort']}/models/{ids['family']}",
        ),
        ("/api/leaderboard", "/api/leaderboard"),
        *(
            (f"/api/performance-data?range={r}", f"/api/performance-data?range={r}")
            for r in PERFORMANCE_RANGES
        ),
        ("/api/decisions/recent", "/api/decisions/recent"),
        ("/api/decisions/{id}", f"/api/decisions/{ids['decision']}"),
        ("/api/health", "/api/health"),
    ]


def stamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S")


def seed(path: Path) -> dict[str, int]:
    """Bulk-insert a year of history; returns row counts."""
    rng = random.Random(11)
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA foreign_keys=ON")
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("BEGIN IMMEDIATE")
    slots = conn.execute(
        "SELECT bcm.id, bcm.family_id, bcm.release_id, f.legacy_model_id "
        "FROM benchmark_config_models bcm JOIN model_families f ON f.id = bcm.family_id "
        "WHERE bcm.benchmark_config_id = ? ORDER BY bcm.slot_order",
        (DEFAULT_CONFIG_ID,),
    ).fetchall()
    now = FIRST_SUNDAY + timedelta(days=7 * COHORTS)

    markets = []
    for i in range(MARKETS):
        close = FIRST_SUNDAY + timedelta(days=7 + i * 7 * COHORTS / MARKETS)
        resolved = i < RESOLVED
        multi = i % 10 == 0
        outcome = None
        if resolved:
            outcome = rng.choice(["ALICE", "BOB"]) if multi else rng.choice(["YES", "NO"])
        markets.append(
            (
                f"m{i}",
                f"pm{i}",
                f"market-{i}",
                f"Will event {i} happen?",
                "Politics",
                "multi_outcome" if multi else "binary",
                '["Alice", "Bob"]' if multi else '["Yes", "No"]',
                stamp(close),
                "resolved" if resolved else "active",
                None if multi else round(rng.uniform(0.05, 0.95), 3),
                '{"Alice": 0.5, "Bob": 0.5}' if multi else None,
                rng.uniform(1e3, 1e6),
                outcome,
                stamp(close) if resolved else None,
            )
        )
    conn.executemany(
        "INSERT INTO markets (id, polymarket_id, slug, question, category, market_type, "
        "outcomes, close_date, status, current_price, current_prices, volume, "
        "resolution_outcome, resolved_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
        markets,
    )
    by_id = {m[0]: m for m in markets}

    cohorts, agents, decisions, positions, trades, briers, snapshots = [], [], [], [], [], [], []
    for c in range(COHORTS):
        started = FIRST_SUNDAY + timedelta(days=7 * c)
        cohort_id = f"c{c + 1}"
        completed = started + timedelta(days=7 * WEEKS_PER_COHORT) <= now
        cohorts.append(
            (
                cohort_id,
                c + 1,
                stamp(started),
                "completed" if completed else "active",
                "v2",
                DEFAULT_CONFIG_ID,
            )
        )
        for slot_id, family_id, release_id, legacy in slots:
            agent_id = f"{cohort_id}-{family_id}"
            cash = 10000.0
            held: set[tuple[str, str]] = set()  # one open position per market and side
            for week in range(1, WEEKS_PER_COHORT + 1):
                moment = started + timedelta(days=7 * (week - 1), minutes=5)
                if moment > now:
                    break
                decision_id = f"{agent_id}-w{week}"
                decisions.append(
                    (
                        decision_id,
                        agent_id,
                        cohort_id,
                        family_id,
                        release_id,
                        slot_id,
                        week,
                        stamp(moment),
                        "system prompt " * 40,
                        "user prompt " * 200,
                        '{"action": "BET"}',
                        "BET",
                        "edge found",
                        1500,
                        300,
                        0.012,
                    )
                )
                open_markets = [m for m in markets if m[7] > stamp(moment)][:60]
                for leg in range(3):
                    while True:
                        market = by_id[rng.choice(open_markets)[0]]
                        multi = market[5] == "multi_outcome"
                        side = rng.choice(["Alice", "Bob"] if multi else ["YES", "NO"])
                        if (market[0], side) not in held:
                            held.add((market[0], side))
                            break
                    price = round(rng.uniform(0.1, 0.9), 3)
                    amount = 100.0
                    shares = amount / price
                    winner = market[12]
                    position_id = f"{decision_id}-p{leg}"
                    won = winner is not None and side.upper() == winner
                    settled = winner is not None
                    cash -= amount
                    if settled and won:
                        cash += shares
                    positions.append(
                        (
                            position_id,
                            agent_id,
                            market[0],
                            side,
                            shares,
                            price,
                            amount,
                            0.0 if settled else amount * rng.uniform(0.8, 1.2),
                            "settled" if settled else "open",
                            stamp(moment),
                        )
                    )
                    trade_id = f"{decision_id}-t{leg}"
                    confidence = amount / (cash * 0.25)
                    trades.append(
                        (
                            trade_id,
                            agent_id,
                            market[0],
                            position_id,
                            decision_id,
                            family_id,
                            release_id,
                            slot_id,
                            "BUY",
                            side,
                            shares,
                            price,
                            amount,
                            confidence,
                            stamp(moment),
                            round(rng.uniform(0.05, 0.95), 3) if rng.random() < 0.9 else None,
                        )
                    )
                    if settled:
                        briers.append(
                            (
                                f"b-{trade_id}",
                                agent_id,
                                trade_id,
                                market[0],
                                family_id,
                                release_id,
                                slot_id,
                                confidence,
                                1.0 if won else 0.0,
                                confidence_brier(confidence, won),
                            )
                        )
            agents.append((agent_id, cohort_id, legacy, family_id, release_id, slot_id, cash, 0.0))
            value = 10000.0
            for step in range(SNAPSHOT_DAYS * 144):
                moment = started + timedelta(minutes=10 * (step + 1))
                if moment > now:
                    break
                value += rng.uniform(-5, 5)
                snapshots.append(
                    (
                        f"s-{agent_id}-{step}",
                        agent_id,
                        stamp(moment),
                        cash,
                        value - cash,
                        value,
                        value - 10000,
                        (value - 10000) / 100,
                    )
                )
    conn.executemany(
        "INSERT INTO cohorts (id, cohort_number, started_at, status, methodology_version, "
        "benchmark_config_id) VALUES (?,?,?,?,?,?)",
        cohorts,
    )
    conn.executemany(
        "INSERT INTO agents (id, cohort_id, model_id, family_id, release_id, "
        "benchmark_config_model_id, cash_balance, total_invested) VALUES (?,?,?,?,?,?,?,?)",
        agents,
    )
    conn.executemany(
        "INSERT INTO decisions (id, agent_id, cohort_id, family_id, release_id, "
        "benchmark_config_model_id, decision_week, decision_timestamp, prompt_system, "
        "prompt_user, raw_response, action, reasoning, tokens_input, tokens_output, "
        "api_cost_usd) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
        decisions,
    )
    conn.executemany(
        "INSERT INTO positions (id, agent_id, market_id, side, shares, avg_entry_price, "
        "total_cost, current_value, status, opened_at) VALUES (?,?,?,?,?,?,?,?,?,?)",
        positions,
    )
    conn.executemany(
        "INSERT INTO trades (id, agent_id, market_id, position_id, decision_id, family_id, "
        "release_id, benchmark_config_model_id, trade_type, side, shares, price, total_amount, "
        "implied_confidence, executed_at, p_yes) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
        trades,
    )
    conn.executemany(
        "INSERT INTO brier_scores (id, agent_id, trade_id, market_id, family_id, release_id, "
        "benchmark_config_model_id, forecast_probability, actual_outcome, brier_score) "
        "VALUES (?,?,?,?,?,?,?,?,?,?)",
        briers,
    )
    conn.executemany(
        "INSERT INTO portfolio_snapshots (id, agent_id, snapshot_timestamp, cash_balance, "
        "positions_value, total_value, total_pnl, total_pnl_percent) VALUES (?,?,?,?,?,?,?,?)",
        snapshots,
    )
    conn.execute("COMMIT")
    conn.execute("ANALYZE")
    conn.close()
    return {
        "cohorts": len(cohorts),
        "agents": len(agents),
        "markets": len(markets),
        "decisions": len(decisions),
        "trades": len(trades),
        "brier_scores": len(briers),
        "portfolio_snapshots": len(snapshots),
    }


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def sample_ids(path: Path) -> dict[str, str]:
    """The ids the detail routes are driven with: the newest cohort, a family in it, a market
    with open positions, and that family's newest decision in it."""
    conn = sqlite3.connect(path)
    try:
        cohort, family = conn.execute(
            "SELECT a.cohort_id, a.family_id FROM agents a JOIN cohorts c ON c.id = a.cohort_id "
            "ORDER BY c.cohort_number DESC, a.family_id LIMIT 1"
        ).fetchone()
        (market,) = conn.execute(
            "SELECT market_id FROM positions WHERE status = 'open' "
            "GROUP BY market_id ORDER BY COUNT(*) DESC, market_id LIMIT 1"
        ).fetchone()
        (decision,) = conn.execute(
            "SELECT d.id FROM decisions d JOIN agents a ON a.id = d.agent_id "
            "WHERE a.cohort_id = ? AND a.family_id = ? ORDER BY d.decision_week DESC LIMIT 1",
            (cohort, family),
        ).fetchone()
    finally:
        conn.close()
    return {"cohort": cohort, "family": family, "market": market, "decision": decision}


def start_bare_server(port: int) -> subprocess.Popen[bytes]:
    """bench/bare_app.py under the same uvicorn command line as the service."""
    env = {**os.environ, "PYTHONPATH": f"{ROOT / 'bench'}{os.pathsep}{ROOT / 'src'}"}
    return subprocess.Popen(
        uvicorn_command("bare_app:create_app", port),
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def uvicorn_command(factory: str, port: int) -> list[str]:
    return [
        sys.executable,
        "-m",
        "uvicorn",
        factory,
        "--factory",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        "1",
        "--log-level",
        "warning",
        "--no-access-log",
    ]


def start_server(database: Path, port: int, log: Path) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "APP_ENV": "development",
        "DATABASE_PATH": str(database),
        "SCHEDULER_ENABLED": "false",
        "LOG_LEVEL": "error",
        "CRON_SECRET": "bench-cron",
        "ADMIN_PASSWORD": "bench-admin",
        "ADMIN_SESSION_SECRET": "bench-session",
        "OPENROUTER_API_KEY": "bench-key",
        "PYTHONPATH": str(ROOT / "src"),
    }
    command = uvicorn_command("arenabrain.app:create_app", port)
    with log.open("wb") as sink:  # a file, not a pipe nobody drains
        return subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=sink)


def wait_until_live(base: str, process: subprocess.Popen[bytes], log: Path | None = None) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            if log is not None:
                raise SystemExit(f"server exited: {log.read_text()}")
            raise SystemExit(
                f"server exited: {process.stderr.read().decode() if process.stderr else ''}"
            )
        try:
            if httpx.get(f"{base}/health/live", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise SystemExit("server did not come up within 60 s")


def _ms(text: str) -> float:
    found = re.fullmatch(r"([\d.]+)(us|ms|s|m|h)", text)
    if found is None:
        raise ValueError(f"unreadable wrk latency {text!r}")
    number, unit = found.groups()
    return (
        float(number) * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0, "h": 3_600_000.0}[unit]
    )


def load_wrk(url: str, seconds: int, connections: int) -> dict[str, float]:
    out = subprocess.run(
        ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--latency", url],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    if "Latency Distribution" not in out:
        raise SystemExit(f"wrk printed no latency distribution for {url}:\n{out}")
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    # The percentiles are lines of their own ("     50%   37.59ms"); a "+/- Stdev" figure such
    # as "70.50%" above them must not match.
    distribution = out.split("Latency Distribution", 1)[1]
    p50 = _ms(re.search(r"^\s+50%\s+(\S+)", distribution, re.M).group(1))  # type: ignore[union-attr]
    p99 = _ms(re.search(r"^\s+99%\s+(\S+)", distribution, re.M).group(1))  # type: ignore[union-attr]
    errors = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    return {"rps": rps, "p50": p50, "p99": p99, "errors": float(errors.group(1)) if errors else 0}


async def _load_httpx(url: str, seconds: int, connections: int) -> dict[str, float]:
    latencies: list[float] = []
    errors = 0
    limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
    async with httpx.AsyncClient(limits=limits, timeout=30) as client:
        deadline = time.perf_counter() + seconds

        async def worker() -> None:
            nonlocal errors
            while time.perf_counter() < deadline:
                started = time.perf_counter()
                response = await client.get(url)
                latencies.append((time.perf_counter() - started) * 1000)
                errors += response.status_code != 200

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(connections)))
        elapsed = time.perf_counter() - started
    latencies.sort()
    return {
        "rps": len(latencies) / elapsed,
        "p50": statistics.median(latencies),
        "p99": latencies[int(len(latencies) * 0.99) - 1],
        "errors": float(errors),
    }


def load(url: str, seconds: int, connections: int) -> dict[str, float]:
    if shutil.which("wrk"):
        return load_wrk(url, seconds, connections)
    return asyncio.run(_load_httpx(url, seconds, connections))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=5, help="load duration per route")
    parser.add_argument("--connections", type=int, default=64, help="concurrent clients")
    parser.add_argument(
        "--write-seconds", type=int, default=3, help="load duration per route while writing"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        database = Path(tmp) / "bench.db"
        server_log = Path(tmp) / "server.log"
        upgrade(f"sqlite:///{database}")
        started = time.perf_counter()
        counts = seed(database)
        print(f"seeded in {time.perf_counter() - started:.1f} s: {json.dumps(counts)}")
        measured = routes(sample_ids(database))
        port, bare_port = free_port(), free_port()
        base, bare_base = f"http://127.0.0.1:{port}", f"http://127.0.0.1:{bare_port}"
        server = start_server(database, port, server_log)
        bare = start_bare_server(bare_port)
        writer: subprocess.Popen[bytes] | None = None
        try:
            wait_until_live(base, server, server_log)
            wait_until_live(bare_base, bare)
            for name, path in measured[1:]:
                first = time.perf_counter()
                response = httpx.get(base + path, timeout=120)
                response.raise_for_status()
                print(
                    f"first answer {name}: {(time.perf_counter() - first) * 1000:.0f} ms, "
                    f"{len(response.content)} bytes"
                )
            tool = "wrk" if shutil.which("wrk") else "httpx"
            print(f"load: {tool}, {args.connections} connections, {args.seconds} s per route")
            bare_live = load(bare_base + "/health/live", args.seconds, args.connections)
            results = {
                name: load(base + path, args.seconds, args.connections) for name, path in measured
            }
            report(results, bare_live)
            print(
                f"\nwrite-loop pass: take-snapshots and sync-markets in a loop in another "
                f"process; {args.write_seconds} s per route"
            )
            locked_before = server_log.read_text().count(LOCKED)
            writer = start_writer(database, args.write_seconds * len(measured) + 2)
            time.sleep(1)  # the writer is writing before the first route is driven
            written = {
                name: load(base + path, args.write_seconds, args.connections)
                for name, path in measured
            }
            counts_line = writer.communicate(timeout=120)[0].decode().strip().splitlines()
        finally:
            for process in (server, bare, writer):
                if process is not None and process.poll() is None:
                    process.terminate()
                    process.wait(timeout=30)
        report(written, None)
        print(f"writer: {counts_line[-1] if counts_line else 'printed nothing'}")
        print(
            f'server log lines with "{LOCKED}" during the pass: '
            f"{server_log.read_text().count(LOCKED) - locked_before}; "
            f"non-2xx answers: {sum(int(r['errors']) for r in written.values())}"
        )


def start_writer(database: Path, seconds: float) -> subprocess.Popen[bytes]:
    """bench/write_loop.py writing for `seconds` in a process of its own."""
    return subprocess.Popen(
        [sys.executable, str(ROOT / "bench" / "write_loop.py"), str(database), str(seconds)],
        stdout=subprocess.PIPE,
    )


def report(results: dict[str, dict[str, float]], bare_live: dict[str, float] | None) -> None:
    live = results["/health/live"]
    print(
        f"{'route':42} {'req/s':>8} {'p50 ms':>7} {'p99 ms':>7} {'errors':>6} "
        f"{'ratio':>6} {'p99/live':>8}"
    )
    if bare_live is not None:
        print(
            f"{'bare FastAPI /health/live':42} {bare_live['rps']:8.0f} {bare_live['p50']:7.1f} "
            f"{bare_live['p99']:7.1f} {bare_live['errors']:6.0f}"
        )
    below = []
    for name, figures in results.items():
        ratio = figures["rps"] / live["rps"]
        tail = figures["p99"] / live["p99"]
        print(
            f"{name:42} {figures['rps']:8.0f} {figures['p50']:7.1f} {figures['p99']:7.1f} "
            f"{figures['errors']:6.0f} {ratio:6.2f} {tail:8.1f}"
        )
        if name != "/health/live" and (ratio < GOAL or tail > P99_GOAL or figures["errors"]):
            below.append(name)
    if bare_live is not None:
        bare_ratio = live["rps"] / bare_live["rps"]
        verdict = "meets" if bare_ratio >= BARE_GOAL else "below"
        print(f"/health/live / bare FastAPI = {bare_ratio:.2f} ({verdict} the goal {BARE_GOAL})")
    print(
        f"routes below {GOAL}x of /health/live, p99 above {P99_GOAL}x, or with errors: "
        + (", ".join(below) if below else "none")
    )


if __name__ == "__main__":
    main()
