"""The OpenAPI document says which statuses each operation really answers, every error with
the one `ErrorBody` schema.

FastAPI documents a 422 with its own validation schema; this service answers validation errors
400 with `{"error", "statusCode"}` (see `errors.py`). `install_openapi` post-processes the
generated document once, in one place, for every route of every domain:

- 422 and FastAPI's validation schemas go; every operation documents 400 (bad input, including
  a malformed JSON body, which any route may be sent) and 413 (a body above MAX_BODY_BYTES);
- operations behind an authentication dependency document 401 and 429 (each guard has a rate
  limiter) and the credentials they take (`security`: the cron secret, the API token or the
  admin session cookie), and operations with path parameters 404 (the thing named may not
  exist);
- what only some routes answer (403, 409, 502, 503, ...) each route declares with
  `responses=error_responses(...)`, which this keeps."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from http import HTTPStatus
from typing import Any

import fastapi.routing
from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from pydantic import BaseModel, ConfigDict, Field
from starlette.routing import BaseRoute

from arenabrain.web.auth import ADMIN_COOKIE, require_admin, require_api_token, require_cron

ERROR_SCHEMA = "ErrorBody"
ERROR_REF = {"$ref": f"#/components/schemas/{ERROR_SCHEMA}"}
EVERY_OPERATION = (400, 413)
AUTHENTICATED = (401, 429)
# Each guard and the security scheme (in `components.securitySchemes`) that names its credential.
GUARDS: dict[Callable[..., Any], str] = {
    require_cron: "cronSecret",
    require_api_token: "apiToken",
    require_admin: "adminSession",
}
SECURITY_SCHEMES: dict[str, dict[str, Any]] = {
    "cronSecret": {
        "type": "http",
        "scheme": "bearer",
        "description": "`Authorization: Bearer <CRON_SECRET>` (the arena's cron routes)",
    },
    "apiToken": {
        "type": "http",
        "scheme": "bearer",
        "description": "`Authorization: Bearer <API_AUTH_TOKEN>` (the CreditBrain API)",
    },
    "adminSession": {
        "type": "apiKey",
        "in": "cookie",
        "name": ADMIN_COOKIE,
        "description": "The session cookie POST /api/admin/login sets (the arena's admin)",
    },
}
FASTAPI_VALIDATION_SCHEMAS = ("HTTPValidationError", "ValidationError")


class ErrorBody(BaseModel):
    """Every error answer. Some carry more fields (the run id of a refused run, the anchor's
    `message` on a 429)."""

    model_config = ConfigDict(extra="allow", title=ERROR_SCHEMA)

    error: str = Field(description="What went wrong, written for the caller")
    statusCode: int = Field(description="The HTTP status, repeated")
    reference: str | None = Field(
        None, description="5xx only: the id of the error line in the server's log"
    )


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """`responses=` for a route that answers these error statuses."""
    return {status: {"model": ErrorBody, "description": _phrase(status)} for status in statuses}


def install_openapi(app: FastAPI) -> None:
    """Make `app.openapi()` return the post-processed document."""
    generate = app.openapi
    processed: list[dict[str, Any]] = []

    def openapi() -> dict[str, Any]:
        document = generate()  # FastAPI caches it, and builds it anew when routes change
        if not processed or processed[-1] is not document:
            document_errors(document, app.routes)
            processed[:] = [document]
        return document

    app.openapi = openapi  # type: ignore[method-assign]


def api_routes(routes: Sequence[BaseRoute]) -> Iterator[Any]:
    """Every API route, with the dependencies of the routers that include it."""
    # FastAPI 0.16x keeps included routers as such; earlier versions copied their routes.
    contexts = getattr(fastapi.routing, "iter_route_contexts", None)
    for route in contexts(routes) if contexts is not None else routes:
        if isinstance(getattr(route, "original_route", route), APIRoute):
            yield route


def document_errors(document: dict[str, Any], routes: Sequence[BaseRoute]) -> None:
    """Rewrite the error statuses of every operation in `document` (in place)."""
    schemas = document.setdefault("components", {}).setdefault("schemas", {})
    for name in FASTAPI_VALIDATION_SCHEMAS:
        schemas.pop(name, None)
    schemas[ERROR_SCHEMA] = ErrorBody.model_json_schema()
    document["components"]["securitySchemes"] = SECURITY_SCHEMES
    for route in api_routes(routes):
        if not route.include_in_schema:
            continue
        item = document["paths"].get(route.path_format, {})
        statuses = set(EVERY_OPERATION)
        schemes = sorted(_guards(route.dependant))
        if schemes:
            statuses.update(AUTHENTICATED)
        if route.dependant.path_params:
            statuses.add(404)
        for method in route.methods:
            operation = item.get(method.lower())
            if operation is None:
                continue
            responses = operation.setdefault("responses", {})
            responses.pop("422", None)
            for status in sorted(statuses):
                responses.setdefault(str(status), _error_response(status))
            if schemes:
                # Every guard must pass: one requirement that names them all.
                operation["security"] = [{scheme: [] for scheme in schemes}]


def _guards(dependant: Dependant) -> set[str]:
    """The security schemes of the guards `dependant` depends on, at any depth."""
    found: set[str] = set()
    for sub in dependant.dependencies:
        scheme = GUARDS.get(sub.call) if sub.call is not None else None
        if scheme is not None:
            found.add(scheme)
        found |= _guards(sub)
    return found


def _error_response(status: int) -> dict[str, Any]:
    return {
        "description": _phrase(status),
        "content": {"application/json": {"schema": ERROR_REF}},
    }


def _phrase(status: int) -> str:
    return HTTPStatus(status).phrase
