"""The OpenAPI document says which statuses each operation really answers, every error with
the one `ErrorBody` schema.

FastAPI documents a 422 with its own validation schema; this service answers validation errors
400 with `{"error", "statusCode"}` (see `errors.py`). `install_openapi` post-processes the
generated document once, in one place, for every route of every domain:

- 422 and FastAPI's validation schemas go; every operation documents 400 (bad input, including
  a malformed JSON body, which any route may be sent) and 413 (a body above MAX_BODY_BYTES);
- operations behind an authentication dependency document 401 and 429 (each guard has a rate
  limiter), and operations with path parameters 404 (the thing named may not exist);
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

from arenabrain.web.auth import require_admin, require_api_token, require_cron

ERROR_SCHEMA = "ErrorBody"
ERROR_REF = {"$ref": f"#/components/schemas/{ERROR_SCHEMA}"}
EVERY_OPERATION = (400, 413)
AUTHENTICATED = (401, 429)
GUARDS: tuple[Callable[..., Any], ...] = (require_api_token, require_cron, require_admin)
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
    for route in api_routes(routes):
        if not route.include_in_schema:
            continue
        item = document["paths"].get(route.path_format, {})
        statuses = set(EVERY_OPERATION)
        if _guarded(route.dependant):
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


def _guarded(dependant: Dependant) -> bool:
    return any(sub.call in GUARDS or _guarded(sub) for sub in dependant.dependencies)


def _error_response(status: int) -> dict[str, Any]:
    return {
        "description": _phrase(status),
        "content": {"application/json": {"schema": ERROR_REF}},
    }


def _phrase(status: int) -> str:
    return HTTPStatus(status).phrase
