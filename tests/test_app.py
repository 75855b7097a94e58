"""The app's wiring: the domains the settings enable, and only those, give their routes."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from arenabrain.app import ARENA, CREDITS, create_app, enabled_domains
from arenabrain.settings import Settings

FLAGS = [
    ("true", "true", ("arena", "credits")),
    ("true", "false", ("arena",)),
    ("false", "true", ("credits",)),
    ("false", "false", ()),
]


@pytest.mark.parametrize(("arena", "credits", "expected"), FLAGS)
def test_the_enabled_domains_follow_the_settings(
    make_settings: Callable[..., Settings], arena: str, credits: str, expected: tuple[str, ...]
) -> None:
    settings = make_settings(ARENA_ENABLED=arena, CREDITS_ENABLED=credits)
    assert tuple(domain.name for domain in enabled_domains(settings)) == expected


@pytest.mark.parametrize(("arena", "credits", "expected"), FLAGS)
def test_the_app_serves_the_routes_of_the_enabled_domains_only(
    make_settings: Callable[..., Settings], arena: str, credits: str, expected: tuple[str, ...]
) -> None:
    settings = make_settings(ARENA_ENABLED=arena, CREDITS_ENABLED=credits)
    served = {getattr(route, "path", "") for route in create_app(settings).routes}
    for domain in (ARENA, CREDITS):
        paths = {getattr(route, "path", "") for route in domain.router.routes}
        assert paths, domain.name
        if domain.name in expected:
            assert paths <= served, domain.name
        else:
            assert not paths & served, domain.name
    assert "/health/ready" in served  # the shared routes are always there
