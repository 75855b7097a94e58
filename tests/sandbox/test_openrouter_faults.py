"""The OpenRouter emulator's named faults, through the real keys client: a request refused
before OpenRouter sees it changes nothing; one carried out whose answer is lost changed the
account all the same."""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal

import httpx
import pytest

from arenabrain.clients.errors import UpstreamError
from arenabrain.clients.openrouter.keys import OpenRouterKeys
from arenabrain.sandbox import Sandbox
from arenabrain.sandbox import openrouter as emulator
from arenabrain.sandbox.world import World

URL = "https://openrouter.ai/api/v1/"


@pytest.fixture
def world(sandbox: Sandbox) -> World:
    return sandbox.world


@pytest.fixture
async def keys(sandbox: Sandbox) -> AsyncIterator[OpenRouterKeys]:
    transport = sandbox.transports()["openrouter"]
    async with httpx.AsyncClient(transport=transport, base_url=URL) as http:
        yield OpenRouterKeys(http, "mgmt-key")


def limits(world: World) -> dict[str, Decimal]:
    return {h: k["limit"] for h, k in emulator.openrouter_state(world)["keys"].items()}


async def test_a_create_refused_with_500_makes_no_key(keys, world) -> None:
    emulator.arm_fault(world, emulator.CREATE_500)
    with pytest.raises(UpstreamError) as caught:
        await keys.create_key("k1", Decimal(5), "monthly", None)
    assert (caught.value.status, caught.value.transient) == (500, True)
    assert "Internal Server Error" in str(caught.value)
    assert limits(world) == {}
    assert emulator.armed_faults(world) == []
    created = await keys.create_key("k1", Decimal(5), "monthly", None)  # armed once
    assert limits(world) == {created.key.hash: Decimal(5)}


async def test_a_create_applied_then_lost_leaves_a_key_the_caller_never_saw(keys, world) -> None:
    emulator.arm_fault(world, emulator.CREATE_APPLIED_THEN_TIMEOUT)
    with pytest.raises(UpstreamError, match="timed out") as caught:
        await keys.create_key("creditbrain-x", Decimal("7.5"), None, None)
    assert caught.value.transient and caught.value.status is None
    (listed,) = await keys.list_keys()  # it exists; only its plaintext is lost
    assert (listed.name, listed.limit) == ("creditbrain-x", Decimal("7.5"))
    emulator.arm_fault(world, emulator.CREATE_APPLIED_THEN_500)
    with pytest.raises(UpstreamError, match="500"):
        await keys.create_key("creditbrain-y", Decimal(1), None, None)
    assert sorted(k.name for k in await keys.list_keys()) == ["creditbrain-x", "creditbrain-y"]


@pytest.mark.parametrize(
    ("fault", "applied", "status"),
    [
        (emulator.PATCH_500, False, 500),
        (emulator.PATCH_TIMEOUT, False, None),
        (emulator.PATCH_APPLIED_THEN_500, True, 500),
        (emulator.PATCH_APPLIED_THEN_502, True, 502),
        (emulator.PATCH_APPLIED_THEN_TIMEOUT, True, None),
    ],
)
async def test_a_failed_patch_changed_the_limit_only_when_applied(
    keys, world, fault, applied, status
) -> None:
    created = await keys.create_key("k", Decimal(10), None, None)
    emulator.arm_fault(world, fault)
    with pytest.raises(UpstreamError) as caught:
        await keys.update_key(created.key.hash, limit=Decimal("12.5"))
    assert (caught.value.status, caught.value.transient) == (status, True)
    remote = await keys.get_key(created.key.hash)
    assert remote is not None
    assert remote.limit == (Decimal("12.5") if applied else Decimal(10))


async def test_a_fault_lets_some_requests_through_then_lasts_until_disarmed(keys, world) -> None:
    emulator.arm_fault(world, emulator.CREATE_500, after=3, times=None)
    for n in range(3):
        await keys.create_key(f"k{n}", Decimal(1), None, None)
    for n in range(3, 6):
        with pytest.raises(UpstreamError, match="500"):
            await keys.create_key(f"k{n}", Decimal(1), None, None)
    assert len(limits(world)) == 3
    await keys.list_keys()  # another operation is not affected
    assert emulator.armed_faults(world) == [emulator.FAULTS[emulator.CREATE_500]]
    emulator.disarm_faults(world)
    await keys.create_key("k6", Decimal(1), None, None)
    assert len(limits(world)) == 4


async def test_a_fault_fires_the_given_number_of_times_on_its_operation_only(keys, world) -> None:
    created = await keys.create_key("k", Decimal(10), None, None)
    emulator.arm_fault(world, emulator.PATCH_APPLIED_THEN_500, times=2)
    assert await keys.get_key(created.key.hash) is not None
    for limit in ("11", "12"):
        with pytest.raises(UpstreamError):
            await keys.update_key(created.key.hash, limit=Decimal(limit))
    updated = await keys.update_key(created.key.hash, limit=Decimal(13))
    assert updated.limit == Decimal(13)
    assert world.calls("openrouter", "PATCH") == 3


def test_faults_are_checked_when_armed(world) -> None:
    with pytest.raises(ValueError, match="unknown fault"):
        emulator.arm_fault(world, "patch-lost-somehow")
    with pytest.raises(ValueError, match="operation"):
        emulator.Fault("rotate", emulator.BEFORE, 500)
    with pytest.raises(ValueError, match="stage"):
        emulator.Fault("patch", "sometime", 500)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="answer"):
        emulator.Fault("patch", emulator.BEFORE, 200)
    with pytest.raises(ValueError, match="times"):
        emulator.arm_fault(world, emulator.PATCH_500, times=0)
    assert emulator.armed_faults(world) == []
