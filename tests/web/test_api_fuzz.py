"""The API gate (issue 10): a property-based test over the whole OpenAPI document (schemathesis),
in-process over ASGI, with valid credentials for every operation, a fixed seed and a bounded
number of generated requests each, checked for "no server error", "status code documented" and
"response matches its schema".

Every operation of /openapi.json is in scope: the public arena reads, the arena's cron routes
(the bearer CRON_SECRET), the admin routes (a session cookie from POST /api/admin/login, as a
browser gets one), the CreditBrain API (the bearer API token) and health. Which credential an
operation takes is read from its documented `security`, not from its path.

The jobs behind the cron and admin routes really run: every upstream is a sandbox emulator over
an in-process httpx transport, and time is the frozen clock (each request moves it 12 s), so
the gate is deterministic and never leaves the process. The world is made the way an operator
would make it (markets synced, a cohort started and decided, a lineup review, a strategy with a
completed run), and path parameters and body ids are drawn half the time from the ids that
exist, so detail pages and admin changes answer 200 and their schemas are checked, not only
their 404s. A run POST /api/runs starts in the background ends before the next request, so the
counts are the same on every run of the gate. Destructive operations
(DELETE: logout, key revocation, strategy deletion) run last, against the test's own temporary
database; the admin session is opened again after every logout.

Besides the generated requests, schemathesis' coverage phase sends each operation's boundary
cases (limits and just past them, missing and mistyped fields, unexpected methods).

Set FUZZ_REPORT=1 (with `-s`) to print the cases and statuses seen, and the totals per tag."""

from __future__ import annotations

import asyncio
import itertools
import os
import re
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import (
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)
from solders.keypair import Keypair
from sqlalchemy import select

from arenabrain.arena.models import (
    BenchmarkConfig,
    Cohort,
    Decision,
    Market,
    ModelFamily,
    ModelLineupReview,
    ModelRelease,
)
from arenabrain.clock import FrozenClock
from arenabrain.credits.models import Run, Strategy, UserKey
from arenabrain.sandbox import Sandbox
from arenabrain.sandbox import bags as bags_emulator
from arenabrain.sandbox import openrouter as openrouter_emulator
from arenabrain.sandbox import solana as chain
from arenabrain.sandbox.polymarket import configure_markets
from arenabrain.web.auth import ADMIN_COOKIE
from tests.arena.decisions.support import chat_ready
from tests.conftest import ADMIN_PASSWORD, API_TOKEN, CRON_SECRET
from tests.credits.fakes import wallet
from tests.web.test_request_bodies import ENV

# Examples per operation and generation mode: valid requests, then requests the schema rejects
# (negative examples are slow to generate, so fewer); then the boundary cases (`run_boundaries`).
# Measured: about 3,900 requests in 44 s of CPU (73 s under coverage), 2 to 4.5 minutes on two
# cores shared with a machine at load 9; the operations that run real jobs (a credit run,
# run-decisions, take-snapshots, the admin action) cost 4-7 s each for their 30 examples, no
# more than the generation of negative bodies does, so none gets fewer.
EXAMPLES = {GenerationMode.POSITIVE: 30, GenerationMode.NEGATIVE: 15}
SEED = 20261204
CHECKS = [not_a_server_error, status_code_conformance, response_schema_conformance]
# A request every 12 s of the frozen clock keeps within every per-address limit (CreditBrain:
# 100 requests and 5 run starts a minute; cron: 10 a minute), so cases reach the routes.
STEP = timedelta(seconds=12)
# The credential each documented security scheme (web/openapi.py) takes.
BEARERS = {"cronSecret": CRON_SECRET, "apiToken": API_TOKEN}
FUZZER = ("203.0.113.7", 50000)
SESSION_ADDRESS = ("198.51.100.9", 41000)  # the admin's own browser, apart from the fuzzer's
BASE_URL = "http://testserver"
RUN_GRACE = 120.0  # seconds a background run may take before the gate stops waiting for it

OWNER_KEY = Keypair.from_seed(bytes([42] * 32))
OWNER = str(OWNER_KEY.pubkey())
MINT = wallet(210)
FEE_MINT = wallet(211)


@dataclass
class Tally:
    """What the gate sent and what came back."""

    cases: int = 0
    statuses: Counter[str] = field(default_factory=Counter)
    per_tag: Counter[str] = field(default_factory=Counter)
    per_tag_status: Counter[tuple[str, int]] = field(default_factory=Counter)
    seconds: dict[str, float] = field(default_factory=dict)  # per operation and mode

    def add(self, tag: str, method: str, path: str, status: int) -> None:
        self.cases += 1
        self.statuses[f"{method} {path} {status}"] += 1
        self.per_tag[tag] += 1
        self.per_tag_status[tag, status] += 1

    def report(self, operations: int, seconds: float) -> str:
        lines = [
            f"\n{self.cases} generated requests over {operations} operations in {seconds:.1f} s"
        ]
        lines += [f"{count:5d}  {line}" for line, count in sorted(self.statuses.items())]
        lines.append("per tag:")
        for tag, count in sorted(self.per_tag.items()):
            by_status = ", ".join(
                f"{status}: {n}"
                for (t, status), n in sorted(self.per_tag_status.items())
                if t == tag
            )
            lines.append(f"{count:5d}  {tag} ({by_status})")
        lines.append(f"totals by status: {dict(sorted(self._by_status().items()))}")
        slowest = sorted(self.seconds.items(), key=lambda item: -item[1])[:8]
        lines.append("slowest: " + ", ".join(f"{label} {s:.1f} s" for label, s in slowest))
        return "\n".join(lines)

    def _by_status(self) -> Counter[int]:
        totals: Counter[int] = Counter()
        for (_, status), n in self.per_tag_status.items():
            totals[status] += n
        return totals


def tag_of(operation: dict[str, Any]) -> str:
    tags = operation.get("tags") or ["untagged"]
    return str(tags[0])


def schemes_of(operation: dict[str, Any]) -> set[str]:
    return {name for requirement in operation.get("security", []) for name in requirement}


def has_body_or_query(operation: dict[str, Any]) -> bool:
    # Negative path parameters only exercise their length limit, and cost seconds each to
    # generate; bodies and queries are where rejected input has a shape worth trying.
    query = [p for p in operation.get("parameters", []) if p.get("in") == "query"]
    return bool(query or operation.get("requestBody"))


def destructive_last(operation: Any) -> tuple[bool, str, str]:
    """Doc order, except that DELETEs (logout, revocations, strategy deletion) come last, so
    the operations before them meet the rows they would remove."""
    return (operation.method.upper() == "DELETE", operation.path, operation.method)


@pytest.fixture
def runner() -> Iterator[asyncio.Runner]:
    # One event loop for the app's lifespan and every request (the database engine and the
    # upstream clients belong to it); hypothesis drives the examples synchronously.
    with asyncio.Runner() as loop:
        yield loop


def prepare_world(sandbox: Sandbox) -> None:
    """The emulated upstreams: Polymarket markets, model personas that answer, fees to claim,
    a token's holders and OpenRouter credits."""
    world = sandbox.world
    chat_ready(sandbox)
    configure_markets(world, 24, horizon_days=21)
    chain.set_balance(world, OWNER, 100_000_000)  # 0.1 SOL for fees
    bags_emulator.add_claimable_position(world, OWNER, FEE_MINT, 2_000_000_000)
    chain.generate_holders(world, MINT, 8, programs=1)
    openrouter_emulator.openrouter_state(world)["total_credits"] = 1000.0


async def login(app: Any) -> str:
    """Log in as the admin does (from its own address) and return the session cookie."""
    transport = httpx.ASGITransport(app=app, client=SESSION_ADDRESS)
    async with httpx.AsyncClient(transport=transport, base_url=BASE_URL) as browser:
        response = await browser.post("/api/admin/login", json={"password": ADMIN_PASSWORD})
    assert response.status_code == 200, response.text
    return response.cookies[ADMIN_COOKIE]


async def populate(http: httpx.AsyncClient, clock: FrozenClock, cookie: str) -> None:
    """Rows of every kind, made through the API by the jobs themselves."""
    cron = {"Authorization": f"Bearer {CRON_SECRET}"}
    api = {"Authorization": f"Bearer {API_TOKEN}"}
    admin = {"Cookie": f"{ADMIN_COOKIE}={cookie}"}

    async def ok(method: str, url: str, **kwargs: Any) -> dict[str, Any]:
        response = await http.request(method, url, **kwargs)
        assert response.status_code in (200, 202), (url, response.text)
        return response.json()  # type: ignore[no-any-return]

    await ok("POST", "/api/cron/sync-markets", headers=cron)
    assert (await ok("POST", "/api/cron/start-cohort", headers=cron))["success"] is True
    clock.advance(minutes=5)
    await ok("POST", "/api/cron/run-decisions", headers=cron)
    clock.advance(minutes=10)
    await ok("POST", "/api/cron/take-snapshots", headers=cron)
    await ok("POST", "/api/admin/benchmark/reviews/check", headers=admin)
    strategy = await ok(
        "POST",
        "/api/strategies",
        headers=api,
        json={
            "ownerWallet": OWNER,
            "distributionToken": MINT,
            "distributionTopN": 5,
            "minClaimThreshold": 0.1,
            "keyConfig": {"defaultLimitUsd": 20},
        },
    )
    run = await ok(
        "POST", "/api/runs?wait=true", headers=api, json={"strategyId": strategy["strategyId"]}
    )
    assert run["state"] == "COMPLETE", run


async def known_ids(app: Any) -> dict[str, list[str]]:
    """The ids that exist now, per path parameter name."""
    async with app.state.ctx.db.read() as session:

        async def column(attribute: Any, limit: int = 6) -> list[str]:
            rows = await session.scalars(select(attribute).limit(limit))
            return [str(value) for value in rows if value]

        markets = await column(Market.id)
        cohorts = await column(Cohort.id)
        families = await column(ModelFamily.slug)
        family_ids = await column(ModelFamily.id)
        releases = await column(ModelRelease.id)
        configs = await column(BenchmarkConfig.id)
        decisions = await column(Decision.id)
        reviews = await column(ModelLineupReview.id)
        strategies = await column(Strategy.strategy_id)
        runs = await column(Run.run_id)
        hashes = await column(UserKey.openrouter_key_hash)
        wallets = await column(UserKey.holder_wallet)
    return {
        "market_id": markets,
        "cohort_id": cohorts,
        "model_key": families,
        "model_id": families,
        "decision_id": decisions,
        "review_id": reviews,
        "family_id": family_ids,
        "release_id": releases,
        "config_id": configs,
        "strategy_id": strategies,
        "run_id": runs,
        "key_hash": hashes + wallets,  # a key hash, or a wallet (the README's alias)
        "wallet": wallets,
    }


def snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def body_fields(operation: Any, document: dict[str, Any]) -> list[str]:
    """The top-level fields of the operation's JSON body (`strategyId`, `config_id`, ...)."""
    body = operation.definition.raw.get("requestBody", {})
    schema = body.get("content", {}).get("application/json", {}).get("schema", {})
    if "$ref" in schema:
        schema = document["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    return list(schema.get("properties", {}))


def naming_existing(fields: list[str], known: dict[str, list[str]]) -> Any:
    """Values for the body fields that name things that exist (an id, a wallet)."""
    return st.fixed_dictionaries(
        {f: st.sampled_from(known[snake(f)]) for f in fields if known.get(snake(f))}
    )


def with_fields(case: Any, values: dict[str, str]) -> Any:
    if isinstance(case.body, dict):
        case.body.update(values)
    return case


def cases(
    operation: Any, mode: GenerationMode, known: dict[str, list[str]], document: dict[str, Any]
) -> Any:
    """Generated requests; in positive mode half of them name things that exist, in their path
    or in their body."""
    generated = operation.as_strategy(mode)
    if mode is GenerationMode.NEGATIVE:
        return generated
    fields = [f for f in body_fields(operation, document) if known.get(snake(f))]
    if fields:
        existing = st.tuples(generated, naming_existing(fields, known))
        generated = st.one_of(generated, existing.map(lambda pair: with_fields(*pair)))
    names = [p["name"] for p in operation.definition.raw.get("parameters", []) if p["in"] == "path"]
    if not names or not all(known.get(n) for n in names):
        return generated
    combos = [
        dict(zip(names, values, strict=True))
        for values in itertools.product(*(known[n] for n in names))
    ]
    existing = st.sampled_from(combos).flatmap(
        lambda values: operation.as_strategy(mode, path_parameters=values)
    )
    return st.one_of(generated, existing)


@dataclass
class Gate:
    """The app under test, its admin session, the clock and what was seen."""

    runner: asyncio.Runner
    app: Any
    http: httpx.AsyncClient
    clock: FrozenClock
    document: dict[str, Any]
    cookie: str = ""
    tally: Tally = field(default_factory=Tally)
    failures: list[str] = field(default_factory=list)

    def run(self, operation: Any, mode: GenerationMode) -> None:
        """Send this operation's generated requests and check every answer."""
        known = self.runner.run(known_ids(self.app))

        @seed(SEED)
        @settings(
            max_examples=EXAMPLES[mode],
            deadline=None,
            database=None,
            derandomize=False,
            suppress_health_check=list(HealthCheck),
        )
        @given(case=cases(operation, mode, known, self.document))
        def check(case: Any) -> None:
            self.send(operation, case)

        self.checked(operation, mode.value, check)

    def run_boundaries(self, operation: Any) -> None:
        """schemathesis' coverage phase: each parameter and field at its limits and just past
        them, missing, of the wrong type; a fixed list, no randomness. Stops at the first
        failure, as hypothesis does."""
        schema = operation.schema
        config = schema.config.generation_for(operation=operation)
        modes = list(GenerationMode)

        def check() -> None:
            for case in schema.iter_coverage_cases(
                operation, generation_modes=modes, generation_config=config
            ):
                self.send(operation, case)

        self.checked(operation, "boundaries", check)

    def send(self, operation: Any, case: Any) -> None:
        """Send one case with the credential its operation documents; check the answer."""
        raw = operation.definition.raw
        schemes = schemes_of(raw)
        bearer = next((BEARERS[s] for s in sorted(schemes) if s in BEARERS), None)
        logout = operation.method.upper() == "DELETE" and operation.path == "/api/admin/login"
        kwargs = _httpx_kwargs(case.as_transport_kwargs(base_url=BASE_URL))
        headers = {k: v for k, v in (kwargs.get("headers") or {}).items() if k.lower() != "cookie"}
        if bearer is not None:
            headers["Authorization"] = f"Bearer {bearer}"
        if "adminSession" in schemes or logout:
            headers["Cookie"] = f"{ADMIN_COOKIE}={self.cookie}"
        kwargs["headers"] = headers
        kwargs.pop("cookies", None)
        self.clock.advance(seconds=STEP.total_seconds())
        response = self.runner.run(self.http.request(**kwargs))
        # A run POST /api/runs started goes on in the background: let it end before the next
        # request, so what that request meets never depends on the event loop's order.
        self.runner.run(self.app.state.credit_runs.drain(grace=RUN_GRACE))
        if logout:
            self.cookie = self.runner.run(login(self.app))
        self.tally.add(tag_of(raw), case.method, case.path, response.status_code)
        case.validate_response(response, checks=CHECKS)

    def checked(self, operation: Any, phase: str, check: Callable[[], None]) -> None:
        """Run `check`; a failure is recorded (every operation runs, failures are reported
        together) with the time it took."""
        label = f"{operation.method.upper()} {operation.path} ({phase})"
        started = time.perf_counter()
        try:
            check()
        except (Exception, BaseExceptionGroup) as exc:  # schemathesis groups its failures
            self.failures.append(f"{label}: {exc}")
        finally:
            self.tally.seconds[label] = time.perf_counter() - started


def test_generated_requests_never_get_a_server_error_or_an_undocumented_answer(
    runner: asyncio.Runner,
    make_client: Callable[..., Any],
    make_settings: Callable[..., Any],
    clock: FrozenClock,
    sandbox: Sandbox,
) -> None:
    started = time.perf_counter()
    prepare_world(sandbox)
    wrapper = make_client(
        make_settings(
            **ENV, MAX_DAILY_RUNS="0", SIGNER_PRIVATE_KEY=str(OWNER_KEY), LOG_LEVEL="error"
        )
    )
    runner.run(wrapper.__aenter__())
    app = wrapper.app
    # The app's own failures come back as the 500 a caller gets (not raised into the test),
    # so the checks report them with a request to reproduce.
    transport = httpx.ASGITransport(app=app, client=FUZZER, raise_app_exceptions=False)
    http = httpx.AsyncClient(transport=transport, base_url=BASE_URL)
    try:
        cookie = runner.run(login(app))
        runner.run(populate(http, clock, cookie))
        document = app.openapi()
        gate = Gate(runner, app, http, clock, document, cookie)
        schema = schemathesis.openapi.from_dict(document)
        operations = sorted((r.ok() for r in schema.get_all_operations()), key=destructive_last)
        documented = sum(len(item) for item in document["paths"].values())
        assert len(operations) == documented > 60
        for operation in operations:
            gate.run(operation, GenerationMode.POSITIVE)
            if has_body_or_query(operation.definition.raw):
                gate.run(operation, GenerationMode.NEGATIVE)
            gate.run_boundaries(operation)
    finally:
        runner.run(http.aclose())
        runner.run(wrapper.__aexit__(None, None, None))
    tally = gate.tally
    if os.environ.get("FUZZ_REPORT"):
        print(tally.report(len(operations), time.perf_counter() - started))
    assert not gate.failures, "\n\n".join(gate.failures)
    assert tally.cases >= len(operations) * 5
    # The gate reached the routes: every family of operations had successes too.
    assert all(tally.per_tag_status[tag, 200] for tag in tally.per_tag), tally.per_tag_status


def _httpx_kwargs(kwargs: dict[str, Any]) -> dict[str, Any]:
    """schemathesis speaks `requests`; httpx names a raw body `content`."""
    kwargs = dict(kwargs)
    if "data" in kwargs and not isinstance(kwargs["data"], dict):
        kwargs["content"] = kwargs.pop("data")
    if not kwargs.get("cookies"):
        kwargs.pop("cookies", None)
    kwargs.pop("allow_redirects", None)
    kwargs.pop("verify", None)
    kwargs.pop("timeout", None)
    return kwargs
