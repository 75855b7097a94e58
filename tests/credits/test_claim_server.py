"""A holder collects a key from a real server process, exactly once.

A run provisions keys through the sandbox emulators and the API (in this process), into a
database file; then `arenabrain serve` runs under uvicorn on a free port in a subprocess over
that database, and the holder collects the key over HTTP with a solders Keypair signature."""

from __future__ import annotations

import hashlib
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from solders.keypair import Keypair

from arenabrain.sandbox import bags as bags_emulator
from arenabrain.sandbox import openrouter as openrouter_emulator
from arenabrain.sandbox import solana as chain
from tests.conftest import API_TOKEN, api_headers
from tests.credits.conftest import KEK
from tests.credits.fakes import holder_keypair, wallet

OWNER_KEY = Keypair.from_seed(bytes([42] * 32))  # the signer: it owns the claimable fees
OWNER = str(OWNER_KEY.pubkey())
MINT, FEE_MINT_A = wallet(210), wallet(211)

SERVER_ENV = {
    "APP_ENV": "test",
    "CREDITS_ENABLED": "true",
    "ARENA_ENABLED": "false",
    "SCHEDULER_ENABLED": "false",
    "SANDBOX": "true",  # no real upstream is called: collection reads the database only
    "KEY_ENCRYPTION_KEY": KEK,
    "API_AUTH_TOKEN": API_TOKEN,
    "LOG_LEVEL": "info",
}


SERVE = (sys.executable, "-m", "arenabrain.cli", "serve", "--host", "127.0.0.1")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[object]:
    started: list[subprocess.Popen[bytes]] = []

    def start(database: Path) -> str:
        port = free_port()
        env = {
            key: value
            for key, value in os.environ.items()
            if not key.endswith(("_KEY", "_SECRET", "_TOKEN", "_URL")) and key != "DATABASE_PATH"
        }
        env |= SERVER_ENV | {"DATABASE_PATH": str(database), "BACKUP_PATH": str(tmp_path / "b")}
        log = (tmp_path / "server.log").open("wb")
        process = subprocess.Popen(
            [*SERVE, "--port", str(port)],
            cwd=tmp_path,  # no stray .env is read
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        started.append(process)
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise AssertionError((tmp_path / "server.log").read_text())
            try:
                if httpx.get(f"{base}/health/live", timeout=1).status_code == 200:
                    return base
            except httpx.HTTPError:
                time.sleep(0.1)
        raise AssertionError("the server did not start: " + (tmp_path / "server.log").read_text())

    yield start
    for process in started:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


async def test_a_holder_collects_a_key_from_a_running_server_exactly_once(
    make_client, make_settings, sandbox, db_path: Path, serve, tmp_path: Path
) -> None:
    world = sandbox.world
    chain.set_balance(world, OWNER, 100_000_000)
    bags_emulator.add_claimable_position(world, OWNER, FEE_MINT_A, 2_000_000_000)
    chain.seed_holders(world, MINT, {wallet(1): 10, wallet(2): 30})
    openrouter_emulator.openrouter_state(world)["total_credits"] = 500.0
    settings = make_settings(
        CREDITS_ENABLED="true",
        ARENA_ENABLED="false",
        KEY_ENCRYPTION_KEY=KEK,
        BAGS_API_KEY="bags-key",
        HELIUS_API_KEY="helius-key",
        OPENROUTER_MANAGEMENT_KEY="mgmt-key",
        SIGNER_PRIVATE_KEY=str(OWNER_KEY),
    )
    async with make_client(settings) as http:
        sid = (
            await http.post(
                "/api/strategies",
                headers=api_headers(),
                json={"ownerWallet": OWNER, "distributionToken": MINT, "minClaimThreshold": 1},
            )
        ).json()["strategyId"]
        run = await http.post(
            "/api/runs?wait=true", headers=api_headers(), json={"strategyId": sid}
        )
        assert run.json()["state"] == "COMPLETE", run.text
    emulated = openrouter_emulator.openrouter_state(world)["keys"]
    assert len(emulated) == 2

    base = serve(db_path)
    holder = holder_keypair(1)
    async with httpx.AsyncClient(base_url=base, timeout=10) as client:
        challenge = await client.post("/api/keys/claim/challenge", json={"wallet": wallet(1)})
        assert challenge.status_code == 200, challenge.text
        message = challenge.json()["message"]
        signature = str(holder.sign_message(message.encode()))
        body = {"wallet": wallet(1), "nonce": challenge.json()["nonce"], "signature": signature}
        collected = await client.post("/api/keys/claim", json=body)
        assert collected.status_code == 200, collected.text
        key = collected.json()
        # The very key OpenRouter (emulated) created: its hash is OpenRouter's hash of it.
        assert hashlib.sha256(key["key"].encode()).hexdigest() == key["keyHash"]
        assert key["keyHash"] in emulated and key["key"].startswith("sk-or-v1-")
        # Exactly once: the nonce is spent, and no key waits for that wallet any more.
        assert (await client.post("/api/keys/claim", json=body)).status_code == 409
        again = await client.post("/api/keys/claim/challenge", json={"wallet": wallet(1)})
        assert again.status_code == 404
        view = await client.get(f"/api/keys/{wallet(1)}", headers=api_headers())
        assert view.json()["collected"] is True
        # The other holder's key still waits; a stranger's signature does not get it.
        other = (await client.post("/api/keys/claim/challenge", json={"wallet": wallet(2)})).json()
        stolen = {
            "wallet": wallet(2),
            "nonce": other["nonce"],
            "signature": str(holder.sign_message(other["message"].encode())),
        }
        assert (await client.post("/api/keys/claim", json=stolen)).status_code == 401
    server_log = (tmp_path / "server.log").read_text()
    assert "/api/keys/claim" in server_log and key["key"] not in server_log
