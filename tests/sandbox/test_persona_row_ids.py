"""The service shows markets and positions by its own row ids, which are random (`new_id`): a
forecaster answers the same prompt the same way whatever those ids are, so one seed tells one
story from one run to the next (the demo's determinism rests on it)."""

from __future__ import annotations

import random
import re

from arenabrain.arena.decisions.prompts import system_prompt
from arenabrain.sandbox.personas import answer
from tests.sandbox.test_world_personas import LINEUP_MODELS, demo_world, weekly_prompts

POLYMARKET_ID = re.compile(r"\b5\d{5}\b")


def with_row_ids(text: str, ids: dict[str, str]) -> str:
    return POLYMARKET_ID.sub(lambda m: ids[m.group(0)], text)


def row_ids(text: str, seed: int) -> dict[str, str]:
    """A random service id (epoch ms, 9 base-36 chars) for each market id in `text`."""
    rng = random.Random(seed)
    alphabet = "0123456789abcdefghijklmnopqrstuvwxyz"
    return {
        found: "1772323200000-" + "".join(rng.choice(alphabet) for _ in range(9))
        for found in sorted(set(POLYMARKET_ID.findall(text)))
    }


def test_a_forecaster_answers_the_same_whatever_the_services_row_ids() -> None:
    world = demo_world(7)
    (_, user), *_ = weekly_prompts(world, 1, 1)
    first, second = row_ids(user, 1), row_ids(user, 2)
    back_first = {v: k for k, v in first.items()}
    back_second = {v: k for k, v in second.items()}
    for model in LINEUP_MODELS:
        one = answer(world, model, system_prompt(), with_row_ids(user, first))
        two = answer(world, model, system_prompt(), with_row_ids(user, second))
        for new, old in back_first.items():
            one = one.replace(new, old)
        for new, old in back_second.items():
            two = two.replace(new, old)
        assert one == two, model
