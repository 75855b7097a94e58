"""The app's wiring: the domains the settings enable, and only those, give their routes."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from fastapi.routing import APIRoute

from arenabrain.app import ARENA, CREDITS, create_app, enabled_domains
from arenabrain.settings import Settings
from tests.credits.conftest import KEK

CREDITS_SECRETS = {
    "BAGS_API_KEY": "test-bags",
    "HELIUS_API_KEY": "test-helius",
    "OPENROUTER_MANAGEMENT_KEY": "test-management",
    "KEY_ENCRYPTION_KEY": KEK,
}
FLAGS = [
    ("true", "true", ("arena", "credits")),
    ("true", "false", ("arena",)),
    ("false", "true", ("credits",)),
    ("false", "false", ()),
]


def flagged(make: Callable[..., Settings], arena: str, credits: str) -> Settings:
    return make(ARENA_ENABLED=arena, CREDITS_ENABLED=credits, **CREDITS_SECRETS)


@pytest.mark.parametrize(("arena", "credits", "expected"), FLAGS)
def test_the_enabled_domains_follow_the_settings(
    make_settings: Callable[..., Settings], arena: str, credits: str, expected: tuple[str, ...]
) -> None:
    settings = flagged(make_settings, arena, credits)
    assert tuple(domain.name for domain in enabled_domains(settings)) == expected


@pytest.mark.parametrize(("arena", "credits", "expected"), FLAGS)
def test_the_app_serves_the_routes_of_the_enabled_domains_only(
    make_settings: Callable[..., Settings], arena: str, credits: str, expected: tuple[str, ...]
) -> None:
    served = set(create_app(flagged(make_settings, arena, credits)).openapi()["paths"])
    for domain in (ARENA, CREDITS):
        paths = {
            route.path
            for route in domain.router.routes
            if isinstance(route, APIRoute) and route.include_in_schema
        }
        assert paths, domain.name
        if domain.name in expected:
            assert paths <= served, domain.name
        else:
            assert not paths & served, domain.name
    assert "/health/ready" in served  # the shared routes are always there
