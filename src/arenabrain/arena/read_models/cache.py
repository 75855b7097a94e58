"""The arena's public answers through the context's answer cache (`db.answer_cache`: an
answer is served only while the database's data version has not moved)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Hashable
from typing import Any

from pydantic import BaseModel

from arenabrain.context import Context


async def cached_json(
    ctx: Context,
    key: Hashable,
    shape: type[BaseModel],
    compute: Callable[[], Awaitable[dict[str, Any]]],
) -> tuple[bytes, bool]:
    """The JSON answer for `key`, checked against `shape` when computed (an undeclared or
    missing key fails there), and whether it came from the cache."""

    async def render() -> bytes:
        return shape.model_validate(await compute()).model_dump_json().encode()

    return await ctx.answers.get(key, render)
