"""The CreditBrain HTTP API: auth, camelCase bodies, bad input, and every route family."""

from __future__ import annotations

import pytest

from arenabrain.credits.models import Run, Strategy
from tests.conftest import api_headers
from tests.credits.conftest import HOLDER_A, NEW, Api, H
from tests.credits.fakes import OWNER


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/api/strategies"),
        ("POST", "/api/strategies"),
        ("PATCH", "/api/strategies/x"),
        ("DELETE", "/api/strategies/x"),
        ("POST", "/api/strategies/x/enable"),
        ("GET", "/api/runs"),
        ("POST", "/api/runs"),
        ("GET", "/api/runs/x"),
        ("POST", "/api/runs/x/resume"),
        ("GET", "/api/keys"),
        ("GET", "/api/credit-pool"),
        ("GET", "/api/pool"),
        ("GET", "/api/stats"),
    ],
)
async def test_every_route_needs_the_bearer_token(api: Api, method: str, path: str) -> None:
    missing = await api.http.request(method, path, json={"strategyId": "x"})
    wrong = await api.http.request(method, path, headers=api_headers("wrong"), json={})
    for response in (missing, wrong):
        assert response.status_code == 401
        assert response.json() == {"error": "Unauthorized", "statusCode": 401}


async def test_unauthenticated_bad_input_is_401_not_400(api: Api) -> None:
    response = await api.http.post("/api/strategies", json={"ownerWallet": "nope"})
    assert response.status_code == 401


async def test_strategy_crud_speaks_camel_case(api: Api) -> None:
    created = await api.http.post("/api/strategies", headers=H, json=NEW)
    assert created.status_code == 200, created.text
    body = created.json()
    assert body["ownerWallet"] == OWNER
    assert body["keyConfig"] == {
        "defaultLimitUsd": 100.0,
        "limitReset": "monthly",
        "expiryDays": 365,
    }
    assert body["swapConfig"] == {"slippageBps": 50, "maxPriceImpactBps": 300}
    assert body["distribution"] == "TOP_N_HOLDERS" and body["distributionTopN"] == 100
    assert body["minClaimThreshold"] == 0.1 and body["creditPoolReservePct"] == 10.0
    assert body["schedule"] == "0 */6 * * *" and body["status"] == "ACTIVE"
    assert not any("_" in key for key in body)
    sid = body["strategyId"]

    listed = (await api.http.get("/api/strategies", headers=H)).json()
    assert [s["strategyId"] for s in listed] == [sid]
    patched = await api.http.patch(
        f"/api/strategies/{sid}",
        headers=H,
        json={
            "distribution": "EQUAL_SPLIT",
            "exclusionList": [HOLDER_A],
            "keyConfig": {"limitReset": None},
        },
    )
    assert patched.status_code == 200, patched.text
    assert patched.json()["distribution"] == "EQUAL_SPLIT"
    assert patched.json()["exclusionList"] == [HOLDER_A]
    assert patched.json()["keyConfig"]["limitReset"] is None
    assert (await api.http.post(f"/api/strategies/{sid}/disable", headers=H)).json()[
        "status"
    ] == "PAUSED"
    assert (await api.http.post(f"/api/strategies/{sid}/enable", headers=H)).json()[
        "status"
    ] == "ACTIVE"
    assert (await api.http.get(f"/api/strategies/{sid}", headers=H)).json()[
        "distribution"
    ] == "EQUAL_SPLIT"

    deleted = await api.http.delete(f"/api/strategies/{sid}", headers=H)
    assert deleted.json() == {"deleted": True, "strategyId": sid, "soft": False}
    missing = await api.http.get(f"/api/strategies/{sid}", headers=H)
    assert missing.status_code == 404
    assert missing.json() == {"error": "Strategy not found", "statusCode": 404}


BAD_STRATEGIES = [
    ({}, "ownerWallet"),
    ({"ownerWallet": "not-a-wallet"}, "base58"),
    ({"ownerWallet": OWNER[:-1] + "0"}, "ownerWallet"),  # 0 is not base58
    ({**NEW, "distribution": "TOP_100_HOLDERS"}, "distribution"),
    ({**NEW, "distributionTopN": 0}, "distributionTopN"),
    ({**NEW, "keyConfig": {"defaultLimitUsd": 100.5}}, None),
    ({**NEW, "keyConfig": {"defaultLimitUsd": 101}}, "MAX_KEY_LIMIT_USD"),
    ({**NEW, "keyConfig": {"limitReset": "yearly"}}, "limitReset"),
    ({**NEW, "creditPoolReservePct": 51}, "creditPoolReservePct"),
    ({**NEW, "schedule": "* * * * *"}, "MIN_CRON_INTERVAL_HOURS"),
    ({**NEW, "schedule": "every hour"}, "cron"),
    ({**NEW, "schedule": "\uff10 */6 * * *"}, "ASCII"),  # fullwidth zero
    ({**NEW, "schedule": "0 0 30 2 *"}, "does not fire every year"),
    ({**NEW, "exclusionList": ["x"]}, "base58"),
    ({**NEW, "distribution": "CUSTOM_LIST"}, "customAllocations"),
    ({**NEW, "swapConfig": {"slippageBps": 5000}}, "slippageBps"),
    ({**NEW, "unknownField": 1}, "unknownField"),
]


@pytest.mark.parametrize(("body", "mentions"), BAD_STRATEGIES)
async def test_bad_strategy_input_is_400_and_changes_nothing(api: Api, body, mentions) -> None:
    response = await api.http.post("/api/strategies", headers=H, json=body)
    assert response.status_code == 400, response.text
    error = response.json()
    assert error["statusCode"] == 400
    if mentions:
        assert mentions in error["error"]
    assert await api.count(Strategy) == 0


async def test_bad_update_changes_nothing(api: Api) -> None:
    sid = (await api.http.post("/api/strategies", headers=H, json=NEW)).json()["strategyId"]
    response = await api.http.patch(
        f"/api/strategies/{sid}", headers=H, json={"distributionTopN": 5, "schedule": "*/5 * * * *"}
    )
    assert response.status_code == 400
    assert (await api.http.get(f"/api/strategies/{sid}", headers=H)).json()[
        "distributionTopN"
    ] == 100
    owner = await api.http.patch(
        f"/api/strategies/{sid}", headers=H, json={"ownerWallet": HOLDER_A}
    )
    assert owner.status_code == 400


async def test_post_runs_with_wait_runs_synchronously_and_reports_the_finished_run(
    api: Api, world
) -> None:
    sid = (await api.http.post("/api/strategies", headers=H, json=NEW)).json()["strategyId"]
    response = await api.http.post("/api/runs?wait=true", headers=H, json={"strategyId": sid})
    assert response.status_code == 200, response.text
    run = response.json()
    assert run["state"] == "COMPLETE"
    assert (
        run["claimedSol"] == 1.5 and run["swappedUsdc"] == 223.875 and run["allocatedUsd"] == 223.87
    )
    assert run["keysProvisioned"] == 3 and run["error"] is None
    assert run["bridgingSkippedReason"].startswith("USDC stays in the treasury")
    rid = run["runId"]
    assert (await api.http.get(f"/api/runs/{rid}", headers=H)).json()["state"] == "COMPLETE"
    assert [
        r["runId"] for r in (await api.http.get(f"/api/runs?strategyId={sid}", headers=H)).json()
    ] == [rid]
    assert len((await api.http.get(f"/api/runs/strategy/{sid}", headers=H)).json()) == 1
    audit = (await api.http.get(f"/api/runs/{rid}/audit", headers=H)).json()
    assert audit[0]["action"] == "start:PENDING->CLAIMING" and "logId" in audit[0]

    keys = (await api.http.get(f"/api/keys/strategy/{sid}", headers=H)).json()
    assert len(keys) == 3 and all("encryptedKey" not in k for k in keys)
    assert {k["spendingLimitUsd"] for k in keys} == {100.0, 74.32, 49.55}
    mine = (await api.http.get(f"/api/keys/wallet/{HOLDER_A}", headers=H)).json()
    assert mine["holderWallet"] == HOLDER_A and mine["status"] == "ACTIVE"
    remote = (await api.http.get("/api/keys", headers=H)).json()
    assert len(remote) == 3 and {"hash", "limit_remaining", "usage_daily"} <= set(remote[0])
    one = await api.http.get(f"/api/keys/{mine['openrouterKeyHash']}", headers=H)
    assert one.json()["limit"] == 100.0
    assert (await api.http.get("/api/keys/deadbeef", headers=H)).status_code == 404

    stats = (await api.http.get("/api/stats", headers=H)).json()
    assert stats["totalRuns"] == 1 and stats["completedRuns"] == 1
    assert stats["totalAllocatedUsd"] == 223.87 and stats["totalKeysProvisioned"] == 3
    for path in ("/api/credit-pool", "/api/pool"):
        pool = (await api.http.get(path, headers=H)).json()
        assert pool["totalBalanceUsd"] == 1000.0
        assert pool["promisedUsd"] == 223.87
        assert pool["availableUsd"] == 1000 - 100 - 223.87
        assert pool["totalAllocatedUsd"] == 223.87
    for path in ("/api/credit-pool/history", "/api/pool/history?limit=9999"):
        history = (await api.http.get(path, headers=H)).json()
        assert [h["amountUsd"] for h in history] == [223.87]

    revoked = await api.http.delete(f"/api/keys/wallet/{HOLDER_A}", headers=H)
    assert revoked.json()["revoked"] is True
    assert (await api.http.get(f"/api/keys/wallet/{HOLDER_A}", headers=H)).status_code == 404
    # Disabled, then deleted on OpenRouter.
    assert mine["openrouterKeyHash"] not in world.keys.keys
    assert world.keys.deleted == [mine["openrouterKeyHash"]]

    # Deleting a strategy with history keeps it as a soft delete, never an FK error.
    deleted = await api.http.delete(f"/api/strategies/{sid}", headers=H)
    assert deleted.json() == {"deleted": True, "strategyId": sid, "soft": True}
    assert (await api.http.get(f"/api/runs/{rid}", headers=H)).status_code == 200


async def test_run_errors_map_to_clear_statuses(open_api, world) -> None:
    wrapper, api = await open_api()
    try:
        missing = await api.http.post("/api/runs", headers=H, json={})
        assert missing.status_code == 400 and "strategyId" in missing.json()["error"]
        unknown = await api.http.post("/api/runs", headers=H, json={"strategyId": "nope"})
        assert unknown.json() == {"error": "Strategy not found", "statusCode": 404}
        assert await api.count(Run) == 0
        sid = (await api.http.post("/api/strategies", headers=H, json=NEW)).json()["strategyId"]
        done = (
            await api.http.post("/api/runs?wait=true", headers=H, json={"strategyId": sid})
        ).json()
        resume = await api.http.post(f"/api/runs/{done['runId']}/resume", headers=H)
        assert resume.status_code == 400
        assert resume.json() == {
            "error": "Cannot resume run in state COMPLETE. Only FAILED runs can be resumed.",
            "statusCode": 400,
        }
        assert (await api.http.post("/api/runs/nope/resume", headers=H)).json() == {
            "error": "Run not found",
            "statusCode": 404,
        }
        # A run in progress holds the lock: 409.
        from arenabrain.credits import locks

        async with api.ctx.db.write() as session:
            await locks.acquire(session, sid, "someone", api.ctx.clock.now())
        conflict = await api.http.post("/api/runs", headers=H, json={"strategyId": sid})
        assert conflict.status_code == 409
        assert conflict.json() == {
            "error": "A run is already in progress for this strategy",
            "statusCode": 409,
        }
    finally:
        await wrapper.__aexit__(None, None, None)


async def test_kill_switch_answers_403_and_records_the_run(open_api, world) -> None:
    wrapper, api = await open_api(EXECUTION_KILL_SWITCH="true")
    try:
        sid = (await api.http.post("/api/strategies", headers=H, json=NEW)).json()["strategyId"]
        response = await api.http.post("/api/runs", headers=H, json={"strategyId": sid})
        assert response.status_code == 403
        body = response.json()
        assert "Kill switch is active" in body["error"] and body["runId"]
        run = (await api.http.get(f"/api/runs/{body['runId']}", headers=H)).json()
        assert run["state"] == "FAILED" and run["error"]["code"] == "POLICY_BLOCKED"
    finally:
        await wrapper.__aexit__(None, None, None)


async def test_daily_cap_answers_403(open_api, world) -> None:
    wrapper, api = await open_api(MAX_DAILY_RUNS="1")
    try:
        sid = (await api.http.post("/api/strategies", headers=H, json=NEW)).json()["strategyId"]
        assert (
            await api.http.post("/api/runs?wait=true", headers=H, json={"strategyId": sid})
        ).status_code == 200
        capped = await api.http.post("/api/runs", headers=H, json={"strategyId": sid})
        assert capped.status_code == 403
        assert capped.json()["error"].startswith("Daily run limit (1) reached")
    finally:
        await wrapper.__aexit__(None, None, None)


async def test_post_runs_is_limited_to_five_a_minute_per_ip(api: Api, clock) -> None:
    for _ in range(2):  # unauthenticated attempts do not spend the budget
        assert (await api.http.post("/api/runs", json={})).status_code == 401
    for _ in range(5):  # counted before the body is validated
        assert (await api.http.post("/api/runs", headers=H, json={})).status_code == 400
    limited = await api.http.post("/api/runs", headers=H, json={"strategyId": "nope"})
    assert limited.status_code == 429
    assert limited.json() == {
        "error": "Too Many Requests",
        "statusCode": 429,
        "message": "Rate limit exceeded, retry in 1 minute",
    }
    assert limited.headers["Retry-After"] == "60"
    assert (await api.http.get("/api/runs", headers=H)).status_code == 200  # only starts count
    clock.advance(seconds=60)
    assert (await api.http.post("/api/runs", headers=H, json={})).status_code == 400


async def test_upstream_failures_answer_502(api: Api, world) -> None:
    from tests.credits.fakes import transient

    world.keys.faults.fail("credits", *[transient("openrouter")] * 4)
    response = await api.http.get("/api/credit-pool", headers=H)
    assert response.status_code == 502
    assert "openrouter" in response.json()["error"]


async def test_bad_wallet_in_path_is_400(api: Api) -> None:
    response = await api.http.get("/api/keys/wallet/not-a-wallet", headers=H)
    assert response.status_code == 400


async def test_usage_routes_serve_polled_rows(api: Api, world) -> None:
    from arenabrain.credits import usage

    sid = (await api.http.post("/api/strategies", headers=H, json=NEW)).json()["strategyId"]
    await api.http.post("/api/runs?wait=true", headers=H, json={"strategyId": sid})
    await usage.poll_usage(api.ctx)
    mine = (await api.http.get(f"/api/keys/wallet/{HOLDER_A}/usage", headers=H)).json()
    assert len(mine) == 1 and mine[0]["limit"] == 100.0 and "polled_at" in mine[0]
    by_key = await api.http.get(f"/api/usage/key/{mine[0]['key_hash']}?limit=5", headers=H)
    assert by_key.json() == mine
    assert len((await api.http.get(f"/api/usage/strategy/{sid}", headers=H)).json()) == 3
    assert (await api.http.get(f"/api/usage/strategy/{sid}?limit=0", headers=H)).status_code == 400


# --- bounded, strict, finite inputs (issue 10) ----------------------------------------------

OUT_OF_RANGE = [
    ({**NEW, "distributionTopN": 10_001}, "distributionTopN"),
    ({**NEW, "distributionTopN": 2**63}, "distributionTopN"),
    ({**NEW, "keyConfig": {"expiryDays": 10**9}}, "keyConfig.expiryDays"),
    ({**NEW, "keyConfig": {"expiryDays": 3651}}, "keyConfig.expiryDays"),
    ({**NEW, "keyConfig": {"defaultLimitUsd": "1e999999"}}, "keyConfig.defaultLimitUsd"),
    ({**NEW, "keyConfig": {"defaultLimitUsd": "1e-999999"}}, "keyConfig.defaultLimitUsd"),
    ({**NEW, "minClaimThreshold": "1e999999"}, "minClaimThreshold"),
    ({**NEW, "creditPoolReservePct": "1e-999999"}, "creditPoolReservePct"),
    (
        {**NEW, "distribution": "CUSTOM_LIST", "customAllocations": {HOLDER_A: "1e999999"}},
        "customAllocations",
    ),
    (
        {**NEW, "distribution": "CUSTOM_LIST", "customAllocations": {HOLDER_A: 1e300}},
        "customAllocations",
    ),
    (
        {**NEW, "distribution": "CUSTOM_LIST", "customAllocations": {HOLDER_A: "0.0000000001"}},
        "customAllocations",
    ),
]


@pytest.mark.parametrize(("body", "field"), OUT_OF_RANGE)
async def test_numbers_outside_their_stated_range_are_400_naming_the_field(
    api: Api, body, field
) -> None:
    response = await api.http.post("/api/strategies", headers=H, json=body)
    assert response.status_code == 400, response.text
    assert field in response.json()["error"]
    assert await api.count(Strategy) == 0


async def test_the_largest_values_in_range_are_accepted(api: Api) -> None:
    body = {
        **NEW,
        "distributionTopN": 10_000,
        "keyConfig": {"defaultLimitUsd": 100, "expiryDays": 3650},
        "distribution": "CUSTOM_LIST",
        "customAllocations": {HOLDER_A: "1000000000000"},
    }
    response = await api.http.post("/api/strategies", headers=H, json=body)
    assert response.status_code == 200, response.text
    assert response.json()["keyConfig"]["expiryDays"] == 3650


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity", "1e999999"])
async def test_non_finite_json_numbers_are_400_naming_the_field(api: Api, literal: str) -> None:
    # Python's json module reads NaN/Infinity literals and turns 1e999999 into inf.
    raw = f'{{"ownerWallet": "{OWNER}", "keyConfig": {{"defaultLimitUsd": {literal}}}}}'.encode()
    response = await api.http.post(
        "/api/strategies", headers={**H, "Content-Type": "application/json"}, content=raw
    )
    assert response.status_code == 400, response.text
    assert "keyConfig.defaultLimitUsd" in response.json()["error"]


STRICT = [
    ({**NEW, "distributionTopN": "5"}, "distributionTopN"),
    ({**NEW, "distributionTopN": True}, "distributionTopN"),
    ({**NEW, "distributionTopN": 5.0}, "distributionTopN"),
    ({**NEW, "keyConfig": {"expiryDays": "30"}}, "keyConfig.expiryDays"),
    ({**NEW, "keyConfig": {"defaultLimitUsd": True}}, "keyConfig.defaultLimitUsd"),
    ({**NEW, "swapConfig": {"slippageBps": "50"}}, "swapConfig.slippageBps"),
    ({**NEW, "ownerWallet": 12345}, "ownerWallet"),
    ({"owner_wallet": OWNER}, "owner_wallet"),
    ({**NEW, "key_config": {"defaultLimitUsd": 5}}, "key_config"),
    ({**NEW, "keyConfig": {"default_limit_usd": 5}}, "keyConfig.default_limit_usd"),
]


@pytest.mark.parametrize(("body", "field"), STRICT)
async def test_inputs_are_strict_and_camel_case_only(api: Api, body, field) -> None:
    response = await api.http.post("/api/strategies", headers=H, json=body)
    assert response.status_code == 400, response.text
    assert field in response.json()["error"]
    assert await api.count(Strategy) == 0


TOO_LONG = [
    ({**NEW, "ownerWallet": "1" * 100_000}, "ownerWallet"),
    ({**NEW, "distributionToken": "A" * 1000}, "distributionToken"),
    ({**NEW, "exclusionList": [HOLDER_A] * 10_001}, "exclusionList"),
    ({**NEW, "exclusionList": ["x" * 1000]}, "exclusionList"),
    ({**NEW, "customAllocations": {"x" * 1000: 1}}, "customAllocations"),
    ({**NEW, "schedule": "0 " * 100}, "schedule"),
]


@pytest.mark.parametrize(("body", "field"), TOO_LONG)
async def test_every_string_and_list_has_a_length_limit(api: Api, body, field) -> None:
    response = await api.http.post("/api/strategies", headers=H, json=body)
    assert response.status_code == 400, response.text
    assert field in response.json()["error"]
    assert len(response.text) < 2000  # the message does not echo the input back


async def test_run_start_id_is_strict_and_bounded(api: Api) -> None:
    for body in ({"strategyId": 7}, {"strategyId": "x" * 129}, {"strategy_id": "x"}):
        response = await api.http.post("/api/runs", headers=H, json=body)
        assert response.status_code == 400, (body, response.text)


@pytest.mark.parametrize("status", ["ERROR", "DELETED", "active"])
async def test_a_user_may_set_only_active_or_paused(api: Api, status: str) -> None:
    sid = (await api.http.post("/api/strategies", headers=H, json=NEW)).json()["strategyId"]
    response = await api.http.patch(f"/api/strategies/{sid}", headers=H, json={"status": status})
    assert response.status_code == 400, response.text
    assert "status" in response.json()["error"]
    assert (await api.http.get(f"/api/strategies/{sid}", headers=H)).json()["status"] == "ACTIVE"
    paused = await api.http.patch(f"/api/strategies/{sid}", headers=H, json={"status": "PAUSED"})
    assert paused.json()["status"] == "PAUSED"


@pytest.mark.parametrize(
    "query", ["limit=0", "limit=-1", "limit=1001", "limit=9223372036854775808", "limit=true"]
)
async def test_usage_limits_outside_1_to_1000_are_400(api: Api, query: str) -> None:
    response = await api.http.get(f"/api/usage/key/abc?{query}", headers=H)
    assert response.status_code == 400, response.text
    assert "limit" in response.json()["error"]


@pytest.mark.parametrize("query", ["limit=0", "limit=-1", "limit=9223372036854775808", "limit=1e3"])
async def test_pool_history_limit_has_a_stated_range(api: Api, query: str) -> None:
    response = await api.http.get(f"/api/credit-pool/history?{query}", headers=H)
    assert response.status_code == 400, response.text
    assert "limit" in response.json()["error"]


@pytest.mark.parametrize(
    ("env", "status", "mentions"),
    [
        ({"DRY_RUN": "true"}, 409, "DRY_RUN"),
        ({"EXECUTION_KILL_SWITCH": "true"}, 403, "EXECUTION_KILL_SWITCH"),
    ],
    ids=["dry-run", "kill-switch"],
)
async def test_revoking_a_key_is_refused_under_dry_run_and_the_kill_switch(
    open_api, world, env: dict[str, str], status: int, mentions: str
) -> None:
    live, api = await open_api()
    sid = (await api.http.post("/api/strategies", headers=H, json=NEW)).json()["strategyId"]
    assert (
        await api.http.post("/api/runs?wait=true", headers=H, json={"strategyId": sid})
    ).is_success
    mine = (await api.http.get(f"/api/keys/wallet/{HOLDER_A}", headers=H)).json()
    await live.__aexit__(None, None, None)

    guarded, api = await open_api(**env)
    try:
        patches = world.keys.faults.calls["update_key"]
        for path in (f"/api/keys/wallet/{HOLDER_A}", f"/api/keys/{mine['openrouterKeyHash']}"):
            refused = await api.http.delete(path, headers=H)
            assert refused.status_code == status, refused.text
            assert mentions in refused.json()["error"]
        assert world.keys.faults.calls["update_key"] == patches  # OpenRouter was not asked
        assert world.keys.keys[mine["openrouterKeyHash"]].disabled is False
        still = (await api.http.get(f"/api/keys/wallet/{HOLDER_A}", headers=H)).json()
        assert still["status"] == "ACTIVE"
    finally:
        await guarded.__aexit__(None, None, None)
