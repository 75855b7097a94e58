"""Property-based API test over the OpenAPI document (schemathesis), in-process over ASGI with
valid credentials: every CreditBrain and health operation, a fixed seed and a bounded number of
generated requests each, checked for "no server error", "status code documented" and "response
matches its schema".

The arena operations join once their routes are typed (issue 10's gate); `in_scope` says which
operations run. Set FUZZ_REPORT=1 (with `-s`) to print the cases and statuses seen."""

from __future__ import annotations

import asyncio
import itertools
import os
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, seed, settings
from schemathesis import GenerationMode
from schemathesis.checks import (
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from arenabrain.clock import FrozenClock
from tests.conftest import FakeSleep, api_headers
from tests.credits.conftest import make_strategy
from tests.credits.fakes import World
from tests.web.test_request_bodies import ENV

# Examples per operation and generation mode: valid requests, then requests the schema rejects
# (negative examples are slow to generate, so fewer).
EXAMPLES = {GenerationMode.POSITIVE: 30, GenerationMode.NEGATIVE: 20}
SEED = 20261204
HEALTH = ("/health/live", "/health/ready", "/api/health")
CHECKS = [not_a_server_error, status_code_conformance, response_schema_conformance]


def in_scope(path: str, operation: dict[str, Any]) -> bool:
    return "credits" in operation.get("tags", []) or path in HEALTH


def has_body_or_query(operation: dict[str, Any]) -> bool:
    # Negative path parameters only exercise their length limit, and cost seconds each to
    # generate; bodies and queries are where rejected input has a shape worth trying.
    query = [p for p in operation.get("parameters", []) if p.get("in") == "query"]
    return bool(query or operation.get("requestBody"))


@pytest.fixture
def runner() -> Iterator[asyncio.Runner]:
    # One event loop for the app's lifespan and every request (the database engine and the
    # upstream clients belong to it); hypothesis drives the examples synchronously.
    with asyncio.Runner() as loop:
        yield loop


def test_generated_requests_never_get_a_server_error_or_an_undocumented_answer(
    runner: asyncio.Runner,
    make_client: Callable[..., Any],
    make_settings: Callable[..., Any],
    clock: FrozenClock,
) -> None:
    from dataclasses import replace

    wrapper = make_client(make_settings(**ENV, MAX_DAILY_RUNS="0"))
    http: httpx.AsyncClient = runner.run(wrapper.__aenter__())
    try:
        # The CreditBrain upstreams, faked in memory.
        ctx = replace(wrapper.app.state.ctx, clients=World().clients, sleep=FakeSleep())
        wrapper.app.state.ctx = ctx
        runner.run(make_strategy(ctx))  # so list answers have rows to match their schema
        document = wrapper.app.openapi()
        schema = schemathesis.openapi.from_dict(document)
        statuses: Counter[str] = Counter()
        cases = 0
        operations = [
            result.ok()
            for result in schema.get_all_operations()
            if in_scope(result.ok().path, result.ok().definition.raw)
        ]
        assert len(operations) > 20

        for operation, mode in itertools.product(operations, GenerationMode):
            if mode is GenerationMode.NEGATIVE and not has_body_or_query(operation.definition.raw):
                continue

            @seed(SEED)
            @settings(
                max_examples=EXAMPLES[mode],
                deadline=None,
                database=None,
                derandomize=False,
                suppress_health_check=list(HealthCheck),
            )
            @given(case=operation.as_strategy(mode))
            def check(case: Any) -> None:
                nonlocal cases
                kwargs = case.as_transport_kwargs(base_url="http://testserver")
                kwargs["headers"] = {**kwargs.get("headers", {}), **api_headers()}
                # One request every 12 s: within every per-address limit (5 run starts and
                # 100 requests a minute), so the cases reach the routes, not only the limiters.
                clock.advance(seconds=12)
                response = runner.run(http.request(**_httpx_kwargs(kwargs)))
                cases += 1
                statuses[f"{case.method} {case.path} {response.status_code}"] += 1
                case.validate_response(response, checks=CHECKS)

            check()
    finally:
        runner.run(wrapper.__aexit__(None, None, None))
    if os.environ.get("FUZZ_REPORT"):
        print(f"\n{cases} generated requests over {len(operations)} operations")
        for line, count in sorted(statuses.items()):
            print(f"{count:5d}  {line}")
    assert cases >= len(operations) * 5


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
