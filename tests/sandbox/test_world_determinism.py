"""The whole demo world is a function of its seed, its clock and the requests it receives: two
worlds with one seed, asked the same things at the same simulated times over the emulators'
wire, answer byte for byte the same; another seed tells another story."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from arenabrain.clock import FrozenClock
from arenabrain.sandbox import Sandbox, World, configure_demo_world

START = datetime(2026, 3, 1, tzinfo=UTC)
MODELS = ("anthropic/claude-opus-4.7", "moonshotai/kimi-k2.6", "qwen/qwen3.6-max-preview")
MANAGEMENT = {"Authorization": "Bearer management"}


async def story(seed: int) -> list[Any]:
    """What a fixed script of requests over four simulated weeks gets back."""
    clock = FrozenClock(START)
    world = World(clock=clock, seed=seed)
    transports = Sandbox(world).transports()
    setup = configure_demo_world(world, markets=120, holders=200)
    answers: list[Any] = []

    def client(name: str, base: str) -> httpx.AsyncClient:
        return httpx.AsyncClient(transport=transports[name], base_url=base)

    async with (
        client("gamma", "https://gamma") as gamma,
        client("openrouter", "https://or/api/v1/") as openrouter,
        client("bags", "https://bags/api/v1/") as bags,
        client("helius", "https://rpc") as rpc,
    ):
        for number in range(5):
            body = {"name": f"holder-{number}", "limit": 10, "limit_reset": "monthly"}
            created = await openrouter.post("keys", json=body, headers=MANAGEMENT)
            answers.append(created.json())
        for week in range(4):
            clock.set(START + timedelta(days=7 * week, hours=3))
            page = await gamma.get("/markets", params={"closed": "false", "limit": 500})
            answers.append(page.text)
            prompt = "TODAY: x\n- Cash: $10000.00\nMARKETS (top 1)\n" + "\n".join(
                f'- ID: {m["id"]}\n  Question: "{m["question"]}"\n  Type: yes/no\n'
                f"  Price: YES 40.0% / NO 60.0%\n"
                for m in page.json()[:20]
            )
            for model in MODELS:
                chat = {"model": model, "messages": [{"role": "user", "content": prompt}]}
                said = await openrouter.post(
                    "chat/completions", json=chat, headers={"Authorization": "Bearer k"}
                )
                answers.append(said.json()["choices"][0]["message"]["content"])
            positions = await bags.get(
                "token-launch/claimable-positions",
                params={"wallet": setup.owner_wallet},
                headers={"x-api-key": "k"},
            )
            answers.append(positions.json())
            keys = await openrouter.get("keys", headers=MANAGEMENT)
            answers.append(keys.json())
        das = {
            "jsonrpc": "2.0",
            "id": 1,
            "method": "getTokenAccounts",
            "params": {"mint": setup.token_mint, "limit": 1000},
        }
        answers.append((await rpc.post("/", params={"api-key": "k"}, json=das)).json())
    return answers


async def test_one_seed_one_story_over_the_wire() -> None:
    first = await story(7)
    assert first == await story(7)
    other = await story(8)
    assert len(other) == len(first)
    differing = sum(a != b for a, b in zip(first, other, strict=True))
    assert differing > 0.8 * len(first)
    # And the story moves: fees pile up and the keys get used, week after week.
    claimable = [
        sum(p["virtualPoolClaimableAmount"] + p["dammPoolClaimableAmount"] for p in a["response"])
        for a in first
        if isinstance(a, dict) and "success" in a
    ]
    used = [
        sum(k["usage"] for k in a["data"])
        for a in first
        if isinstance(a, dict) and isinstance(a.get("data"), list)
    ]
    assert len(claimable) == len(used) == 4
    assert claimable == sorted(claimable) and claimable[0] > 0
    assert used == sorted(used) and used[-1] > used[0]
