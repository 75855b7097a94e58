"""The holder's side of the CreditBrain API: collecting a key with a wallet signature (public,
rate-limited), rotating and revoking keys, the README's /api/keys/{wallet} aliases beside the
key-hash routes, the global per-address limit, and POST /api/runs answering 202."""

from __future__ import annotations

import asyncio
import base64
import io

import pytest
from solders.keypair import Keypair

from arenabrain.credits import collection, locks, run_tasks
from arenabrain.credits.models import KeyRotation, Run, UserKey
from arenabrain.logging import configure_logging
from tests.credits.conftest import HOLDER_A, HOLDER_B, NEW, Api, H
from tests.credits.fakes import holder_keypair, wallet

HOLDER = holder_keypair(1)  # HOLDER_A's keypair
STRANGER = Keypair.from_seed(bytes(range(32)))


async def provisioned(api: Api) -> str:
    sid = (await api.http.post("/api/strategies", headers=H, json=NEW)).json()["strategyId"]
    run = await api.http.post("/api/runs?wait=true", headers=H, json={"strategyId": sid})
    assert run.json()["state"] == "COMPLETE", run.text
    return sid


async def challenge(api: Api, wallet_: str = HOLDER_A) -> dict:
    response = await api.http.post("/api/keys/claim/challenge", json={"wallet": wallet_})
    assert response.status_code == 200, response.text
    return response.json()


def signed(keypair: Keypair, message: str) -> str:
    return str(keypair.sign_message(message.encode()))


async def claim(api: Api, body: dict, http=None):
    return await (http or api.http).post("/api/keys/claim", json=body)


# --- collection ---------------------------------------------------------------------------------


async def test_a_holder_collects_the_key_once_without_a_bearer_token(api: Api, world) -> None:
    await provisioned(api)
    got = await challenge(api)
    assert set(got) == {"nonce", "message", "expiresAt"}
    assert HOLDER_A in got["message"] and "arenabrain" in got["message"]
    assert got["expiresAt"].startswith("2026-03-01T00:05:00")
    body = {"wallet": HOLDER_A, "nonce": got["nonce"], "signature": signed(HOLDER, got["message"])}
    response = await claim(api, body)
    assert response.status_code == 200, response.text
    key = response.json()
    assert set(key) == {"wallet", "key", "keyHash", "spendingLimitUsd", "limitReset", "expiresAt"}
    assert key["key"] == world.keys.keys[key["keyHash"]].plaintext
    assert key["spendingLimitUsd"] == 100.0 and key["limitReset"] == "monthly"
    assert response.headers["Cache-Control"] == "no-store"
    # Only the hash remains: a second collection has nothing to hand over.
    again = await api.http.post("/api/keys/claim/challenge", json={"wallet": HOLDER_A})
    assert again.status_code == 404
    replay = await claim(api, body)
    assert replay.status_code == 409
    mine = (await api.http.get(f"/api/keys/{HOLDER_A}", headers=H)).json()
    assert mine["collected"] is True and "key" not in mine


async def test_a_base64_signature_collects_too(api: Api) -> None:
    await provisioned(api)
    got = await challenge(api)
    raw = bytes(HOLDER.sign_message(got["message"].encode()))
    body = {"wallet": HOLDER_A, "nonce": got["nonce"], "signature": base64.b64encode(raw).decode()}
    assert (await claim(api, body)).status_code == 200


def other_message(message: str) -> str:
    return message.replace("Signing proves", "Signing PROVES")


@pytest.mark.parametrize(
    ("signer", "tamper"),
    [(STRANGER, None), (HOLDER, other_message)],
    ids=["another-wallets-signature", "a-signature-over-another-message"],
)
async def test_a_wrong_signature_is_401_uses_up_the_nonce_and_keeps_the_key(
    api: Api, signer: Keypair, tamper
) -> None:
    await provisioned(api)
    got = await challenge(api)
    message = tamper(got["message"]) if tamper else got["message"]
    body = {"wallet": HOLDER_A, "nonce": got["nonce"], "signature": signed(signer, message)}
    refused = await claim(api, body)
    assert refused.status_code == 401
    assert refused.json()["error"] == (
        "The signature does not verify for this wallet and challenge message"
    )
    good = {**body, "signature": signed(HOLDER, got["message"])}
    assert (await claim(api, good)).status_code == 409  # that nonce is used up
    fresh = await challenge(api)  # the key still waits for its holder
    ok = {
        "wallet": HOLDER_A,
        "nonce": fresh["nonce"],
        "signature": signed(HOLDER, fresh["message"]),
    }
    assert (await claim(api, ok)).status_code == 200


async def test_a_nonce_of_another_wallet_is_refused(api: Api) -> None:
    await provisioned(api)
    got = await challenge(api, HOLDER_A)
    theirs = holder_keypair(2)
    body = {"wallet": HOLDER_B, "nonce": got["nonce"], "signature": signed(theirs, got["message"])}
    refused = await claim(api, body)
    assert refused.status_code == 401 and "another wallet" in refused.json()["error"]


async def test_an_expired_challenge_is_400(api: Api, clock) -> None:
    await provisioned(api)
    got = await challenge(api)
    clock.advance(seconds=collection.CHALLENGE_TTL.total_seconds() + 1)
    body = {"wallet": HOLDER_A, "nonce": got["nonce"], "signature": signed(HOLDER, got["message"])}
    refused = await claim(api, body)
    assert refused.status_code == 400 and "expired" in refused.json()["error"]


async def test_unknown_wallets_and_nonces(api: Api) -> None:
    await provisioned(api)
    unknown = await api.http.post("/api/keys/claim/challenge", json={"wallet": wallet(77)})
    assert unknown.json() == {
        "error": "No key is waiting for collection for this wallet",
        "statusCode": 404,
    }
    body = {"wallet": HOLDER_A, "nonce": "never-issued", "signature": "1" * 88}
    assert (await claim(api, body)).status_code == 400


BAD_CLAIMS = [
    ({}, "wallet"),
    ({"wallet": "not-a-wallet", "nonce": "n", "signature": "s"}, "wallet"),
    ({"wallet": HOLDER_A, "nonce": "n"}, "signature"),
    ({"wallet": HOLDER_A, "nonce": "n", "signature": "s" * 129}, "signature"),
    ({"wallet": HOLDER_A, "nonce": "n" * 129, "signature": "s"}, "nonce"),
    ({"wallet": HOLDER_A, "nonce": 7, "signature": "s"}, "nonce"),
    ({"wallet": HOLDER_A, "nonce": "n", "signature": "s", "key": "x"}, "key"),
    ({"wallet": HOLDER_A, "nonce": "n", "signature_b58": "s"}, "signature"),
]


@pytest.mark.parametrize(("body", "field"), BAD_CLAIMS)
async def test_bad_claim_bodies_are_400_naming_the_field_and_change_nothing(
    api: Api, body: dict, field: str
) -> None:
    await provisioned(api)
    response = await claim(api, body)
    assert response.status_code == 400, response.text
    assert field in response.json()["error"]
    assert len(response.text) < 1000
    bad = await api.http.post("/api/keys/claim/challenge", json={"wallet": "0" * 44})
    assert bad.status_code == 400 and "wallet" in bad.json()["error"]
    assert await api.count(UserKey) == 3


async def test_collection_is_limited_per_client_address(api: Api) -> None:
    await provisioned(api)
    for _ in range(20):
        await api.http.post("/api/keys/claim/challenge", json={"wallet": wallet(77)})
    limited = await api.http.post("/api/keys/claim/challenge", json={"wallet": HOLDER_A})
    assert limited.status_code == 429 and int(limited.headers["Retry-After"]) > 0
    assert "Too many key collection attempts" in limited.json()["error"]
    async with api.from_address("198.51.100.9") as other:
        assert (await other.post("/api/keys/claim/challenge", json={"wallet": HOLDER_A})).is_success


async def test_collection_is_limited_per_wallet_from_any_address(api: Api, clock) -> None:
    await provisioned(api)
    for n in range(10):
        async with api.from_address(f"198.51.100.{n}") as http:
            await http.post("/api/keys/claim/challenge", json={"wallet": HOLDER_A})
    async with api.from_address("198.51.100.200") as http:
        limited = await http.post("/api/keys/claim/challenge", json={"wallet": HOLDER_A})
        assert limited.status_code == 429
        other_wallet = await http.post("/api/keys/claim/challenge", json={"wallet": HOLDER_B})
        assert other_wallet.status_code == 200
        clock.advance(minutes=15)
        assert (await http.post("/api/keys/claim/challenge", json={"wallet": HOLDER_A})).is_success


async def test_the_plaintext_appears_in_no_log_line(api: Api, world, caplog) -> None:
    lines = io.StringIO()
    configure_logging("debug", stream=lines)  # every line the service writes, debug included
    try:
        await provisioned(api)
        got = await challenge(api)
        body = {
            "wallet": HOLDER_A,
            "nonce": got["nonce"],
            "signature": signed(HOLDER, got["message"]),
        }
        plaintext = (await claim(api, body)).json()["key"]
        await claim(api, body)  # refused: logged too
        await api.http.post(f"/api/keys/{HOLDER_A}/rotate", headers=H)
    finally:
        configure_logging("info", stream=io.StringIO())  # nothing left writing to `lines`
    text = lines.getvalue() + caplog.text
    # The lines about the key were captured, and none carries it.
    assert "Key collected" in text and "Key rotated" in text and "/api/keys/claim" in text
    assert plaintext not in text
    for key in world.keys.keys.values():
        assert key.plaintext not in text


# --- rotation, revocation and the README's aliases ---------------------------------------------


@pytest.mark.parametrize(
    "path",
    ["/api/keys/wallet/{w}/rotate", "/api/keys/{w}/rotate", "/api/keys/{h}/rotate"],
    ids=["wallet-route", "readme-alias", "by-hash"],
)
async def test_rotating_over_http_then_collecting_the_new_key(api: Api, world, path: str) -> None:
    await provisioned(api)
    old = (await api.http.get(f"/api/keys/wallet/{HOLDER_A}", headers=H)).json()
    url = path.format(w=HOLDER_A, h=old["openrouterKeyHash"])
    assert (await api.http.post(url)).status_code == 401  # authentication first
    response = await api.http.post(url, headers=H)
    assert response.status_code == 200, response.text
    rotated = response.json()
    assert rotated["rotated"] is True and rotated["oldHash"] == old["openrouterKeyHash"]
    assert rotated["spendingLimitUsd"] == 100.0 and rotated["limitReset"] == "monthly"
    assert set(rotated) >= {"newHash", "expiresAt", "rotationId", "wallet"}
    assert not any("_" in name for name in rotated)
    got = await challenge(api)
    body = {"wallet": HOLDER_A, "nonce": got["nonce"], "signature": signed(HOLDER, got["message"])}
    collected = (await claim(api, body)).json()
    assert collected["keyHash"] == rotated["newHash"]
    assert collected["key"] == world.keys.keys[rotated["newHash"]].plaintext


async def test_rotation_routes_are_refused_under_dry_run_and_answer_404_for_unknown_wallets(
    open_api, world
) -> None:
    live, api = await open_api()
    await provisioned(api)
    unknown = await api.http.post(f"/api/keys/{wallet(77)}/rotate", headers=H)
    assert unknown.json() == {"error": "No active key found for wallet", "statusCode": 404}
    assert (await api.http.post("/api/keys/wallet/nope/rotate", headers=H)).status_code == 400
    await live.__aexit__(None, None, None)
    dry, api = await open_api(DRY_RUN="true")
    try:
        before = world.mutations()
        refused = await api.http.post(f"/api/keys/wallet/{HOLDER_A}/rotate", headers=H)
        assert refused.status_code == 409 and "DRY_RUN" in refused.json()["error"]
        assert world.mutations() == before and await api.count(KeyRotation) == 0
    finally:
        await dry.__aexit__(None, None, None)


async def test_rotation_answers_409_while_a_run_of_the_strategy_is_in_progress(api: Api) -> None:
    sid = await provisioned(api)
    async with api.ctx.db.write() as session:
        await locks.acquire(session, sid, "a-run", api.ctx.clock.now())
    busy = await api.http.post(f"/api/keys/{HOLDER_A}/rotate", headers=H)
    assert busy.status_code == 409
    assert busy.json()["error"] == "A run is already in progress for this strategy"


async def test_the_key_routes_tell_a_wallet_from_a_key_hash(api: Api, world) -> None:
    sid = await provisioned(api)
    by_wallet = (await api.http.get(f"/api/keys/{HOLDER_A}", headers=H)).json()
    assert by_wallet == (await api.http.get(f"/api/keys/wallet/{HOLDER_A}", headers=H)).json()
    key_hash = by_wallet["openrouterKeyHash"]
    by_hash = (await api.http.get(f"/api/keys/{key_hash}", headers=H)).json()
    assert by_hash["hash"] == key_hash and by_hash["limit_remaining"] == 100.0  # OpenRouter's
    assert (await api.http.get(f"/api/keys/{wallet(77)}", headers=H)).status_code == 404
    assert (await api.http.get(f"/api/keys/{'ab' * 32}", headers=H)).status_code == 404

    from arenabrain.credits import usage

    await usage.poll_usage(api.ctx)
    rows = (await api.http.get(f"/api/keys/{HOLDER_A}/usage", headers=H)).json()
    assert rows == (await api.http.get(f"/api/keys/wallet/{HOLDER_A}/usage", headers=H)).json()
    assert rows == (await api.http.get(f"/api/keys/{key_hash}/usage", headers=H)).json()
    assert len(rows) == 1 and rows[0]["key_hash"] == key_hash

    other = (await api.http.get(f"/api/keys/wallet/{HOLDER_B}", headers=H)).json()
    revoked = await api.http.delete(f"/api/keys/{HOLDER_B}", headers=H)
    assert revoked.json() == {
        "revoked": True,
        "wallet": HOLDER_B,
        "hash": other["openrouterKeyHash"],
    }
    assert other["openrouterKeyHash"] not in world.keys.keys
    assert (await api.http.delete(f"/api/keys/{HOLDER_B}", headers=H)).status_code == 404
    by_hash_revoke = await api.http.delete(f"/api/keys/{key_hash}", headers=H)
    assert by_hash_revoke.json()["hash"] == key_hash
    left = (await api.http.get(f"/api/keys/strategy/{sid}", headers=H)).json()
    assert sorted(k["status"] for k in left) == ["ACTIVE", "REVOKED", "REVOKED"]


# --- the global limit ---------------------------------------------------------------------------


async def test_the_api_takes_100_requests_a_minute_from_one_address(api: Api, clock) -> None:
    for _ in range(100):
        assert (await api.http.get("/api/strategies", headers=H)).status_code == 200
    limited = await api.http.get("/api/stats", headers=H)
    assert limited.status_code == 429
    assert limited.json() == {
        "error": "Too Many Requests",
        "statusCode": 429,
        "message": "Rate limit exceeded, retry in 1 minute",
    }
    assert limited.headers["Retry-After"] == "60"
    # Every CreditBrain route counts, the public ones and unauthenticated calls too.
    assert (await api.http.post("/api/keys/claim/challenge", json={})).status_code == 429
    assert (await api.http.get("/api/strategies")).status_code == 429
    assert (await api.http.get("/health/live")).status_code == 200  # health is not limited
    async with api.from_address("198.51.100.7") as other:
        assert (await other.get("/api/strategies", headers=H)).status_code == 200
    clock.advance(seconds=60)
    assert (await api.http.get("/api/stats", headers=H)).status_code == 200


# --- POST /api/runs: 202, and ?wait=true --------------------------------------------------------


async def wait_for(api: Api, run_id: str, state: str) -> dict:
    for _ in range(500):
        run = (await api.http.get(f"/api/runs/{run_id}", headers=H)).json()
        if run["state"] == state:
            return run
        await asyncio.sleep(0.01)
    raise AssertionError(f"run {run_id} never reached {state}: {run}")


async def test_post_runs_answers_202_with_location_as_soon_as_the_run_exists(api: Api) -> None:
    sid = (await api.http.post("/api/strategies", headers=H, json=NEW)).json()["strategyId"]
    response = await api.http.post("/api/runs", headers=H, json={"strategyId": sid})
    assert response.status_code == 202, response.text
    started = response.json()
    assert started["state"] == "PENDING" and started["finishedAt"] is None
    assert response.headers["Location"] == f"/api/runs/{started['runId']}"
    done = await wait_for(api, started["runId"], "COMPLETE")
    assert done["keysProvisioned"] == 3 and done["error"] is None
    # Refusals before the run exists keep their statuses.
    unknown = await api.http.post("/api/runs", headers=H, json={"strategyId": "nope"})
    assert unknown.status_code == 404 and "Location" not in unknown.headers


async def test_a_second_start_while_the_first_runs_in_the_background_is_409(
    api: Api, world
) -> None:
    gate = asyncio.Event()
    token_accounts = world.holders.token_accounts

    async def slow(mint: str):
        await gate.wait()
        return await token_accounts(mint)

    world.holders.token_accounts = slow
    sid = (await api.http.post("/api/strategies", headers=H, json=NEW)).json()["strategyId"]
    first = (await api.http.post("/api/runs", headers=H, json={"strategyId": sid})).json()
    second = await api.http.post("/api/runs", headers=H, json={"strategyId": sid})
    assert second.status_code == 409 and second.json()["runId"] == first["runId"]
    gate.set()
    await wait_for(api, first["runId"], "COMPLETE")


async def test_shutdown_interrupts_a_run_that_outlives_the_grace_period(
    open_api, world, monkeypatch
) -> None:
    monkeypatch.setattr(run_tasks, "SHUTDOWN_GRACE", 0.05)
    never = asyncio.Event()

    async def stuck(mint: str):
        await never.wait()
        return []

    world.holders.token_accounts = stuck
    wrapper, api = await open_api()
    sid = (await api.http.post("/api/strategies", headers=H, json=NEW)).json()["strategyId"]
    run_id = (await api.http.post("/api/runs", headers=H, json={"strategyId": sid})).json()["runId"]
    await wait_for(api, run_id, "ALLOCATING")
    await wrapper.__aexit__(None, None, None)  # the app shuts down

    reopened, api = await open_api()
    try:
        run = (await api.http.get(f"/api/runs/{run_id}", headers=H)).json()
        assert run["state"] == "FAILED" and run["error"]["code"] == "RUN_INTERRUPTED"
        assert run["error"]["failedState"] == "ALLOCATING"
        async with api.ctx.db.read() as session:
            assert await locks.held_for(session, sid, api.ctx.clock.now()) is None
        world.holders.token_accounts = type(world.holders).token_accounts.__get__(world.holders)
        resumed = await api.http.post(f"/api/runs/{run_id}/resume", headers=H)
        assert resumed.json()["state"] == "COMPLETE", resumed.text
    finally:
        await reopened.__aexit__(None, None, None)


async def test_shutdown_waits_for_a_run_that_finishes_within_the_grace_period(
    open_api, world
) -> None:
    wrapper, api = await open_api()
    sid = (await api.http.post("/api/strategies", headers=H, json=NEW)).json()["strategyId"]
    run_id = (await api.http.post("/api/runs", headers=H, json={"strategyId": sid})).json()["runId"]
    await wrapper.__aexit__(None, None, None)  # at once: the run is still in flight
    reopened, api = await open_api()
    try:
        assert (await api.http.get(f"/api/runs/{run_id}", headers=H)).json()["state"] == "COMPLETE"
        assert await api.count(Run) == 1
    finally:
        await reopened.__aexit__(None, None, None)


async def test_the_run_start_is_documented_as_202_and_200(api: Api) -> None:
    operation = (await api.http.get("/openapi.json")).json()["paths"]["/api/runs"]["post"]
    assert {"200", "202"} <= set(operation["responses"])
    claim_op = (await api.http.get("/openapi.json")).json()["paths"]["/api/keys/claim"]["post"]
    assert {"400", "401", "404", "409", "429"} <= set(claim_op["responses"])
    assert "security" not in claim_op or not claim_op["security"]
