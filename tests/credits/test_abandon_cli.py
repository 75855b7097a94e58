"""`arenabrain abandon-run`: an operator gives up on a FAILED run for good, through the CLI."""

from __future__ import annotations

import json

from tests.credits.fakes import World, transient
from tests.credits.test_commands import create, env, invoke

__all__ = ["env"]  # the CLI environment fixture (autouse) of test_commands


def test_abandon_run_frees_the_pool_and_refuses_a_later_resume(world: World) -> None:
    sid = create()
    world.keys.faults.fail("create_key", *[transient("openrouter")] * 3)
    code, out, _ = invoke("run", "--strategy", sid, "--json")
    failed = json.loads(out)["run"]
    assert (code, failed["state"]) == (1, "FAILED")

    code, out, err = invoke("abandon-run", "--run", failed["runId"], "--reason", "test", "--json")
    assert code == 0, err
    abandoned = json.loads(out)
    assert abandoned["run"]["error"]["code"] == "RUN_ABANDONED"
    assert abandoned["auditLog"][-1]["action"] == "abandon:FAILED"
    code, _, err = invoke("run", "--resume", failed["runId"])
    assert code == 1 and "was abandoned" in err
    code, _, err = invoke("abandon-run", "--run", "nope")
    assert code == 1 and "Run not found" in err
