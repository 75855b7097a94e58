"""The admin routes' bodies, queries and answers (§12.3, §12.4).

Bodies are objects with exactly these fields: an unknown field is a 400 that names it. The
anchor's rules and messages ("Model family is required", "Invalid input price for family: x")
stay with the benchmark code, so the fields it checked itself are declared as loosely as it
read them: every field may be missing or null, and a price is a number or a numeric string."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictBool,
    WithJsonSchema,
    field_validator,
    model_validator,
)

from arenabrain.arena.schemas.rows import (
    ConfigRow,
    FamilyRow,
    Moment,
    ReleaseRow,
    Shape,
    SlotRow,
)
from arenabrain.errors import AppError

NOT_OBJECTS = "Lineup assignments must be objects"
LOGS_LIMIT_DEFAULT = 100
LOGS_LIMIT_MAX = 500


def _boolean_as_text(value: Any) -> Any:
    # A boolean is no price; as its JSON text it gets the anchor's price message.
    return json.dumps(value) if isinstance(value, bool) else value


# Documented as a non-negative number or a decimal numeral; anything else is the route's own
# 400 ("Input price must be a non-negative number").
PriceIn = Annotated[
    float | str | None,
    BeforeValidator(_boolean_as_text),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "number", "minimum": 0},
                {"type": "string", "pattern": r"^\s*[0-9]+(\.[0-9]+)?\s*$"},
                {"type": "null"},
            ]
        }
    ),
]
NON_BLANK = {"pattern": r"\S"}


def required(**shapes: dict[str, Any]) -> Callable[[dict[str, Any]], None]:
    """`json_schema_extra` of a body whose route checks these fields itself, with the anchor's
    messages ("Model family is required"): the document says they are required and never
    null, and adds each one's `shape` (a non-blank pattern, a minimum count)."""

    def document(schema: dict[str, Any]) -> None:
        properties = schema["properties"]
        for name, shape in shapes.items():
            field = properties[name]
            field.pop("default", None)
            choices = [c for c in field.pop("anyOf", [field.copy()]) if c.get("type") != "null"]
            if len(choices) == 1:
                field.update(choices[0])
            else:
                field["anyOf"] = choices
            field.update(shape)
        schema["required"] = list(shapes)

    return document


class AdminBody(BaseModel):
    """An admin request body."""

    model_config = ConfigDict(extra="forbid")

    @model_validator(mode="before")
    @classmethod
    def _object(cls, value: Any) -> Any:
        # Kept from the anchor: a body that is not a JSON object reads as `{}`, so the
        # route's own "... is required" message answers it.
        if isinstance(value, bytes | str):
            try:
                value = json.loads(value)
            except ValueError:
                return {}
        return value if isinstance(value, dict) else {}


# --- bodies -----------------------------------------------------------------------------------


class ReleaseIn(AdminBody):
    model_config = ConfigDict(
        json_schema_extra=required(
            family_id=NON_BLANK,
            release_name=NON_BLANK,
            openrouter_id=NON_BLANK,
            default_input_price_per_million={},
            default_output_price_per_million={},
        )
    )

    family_id: str | None = None
    release_name: str | None = None
    release_slug: str | None = None  # default: the release name, slugified
    openrouter_id: str | None = None
    default_input_price_per_million: PriceIn = None
    default_output_price_per_million: PriceIn = None
    notes: str | None = None


class AssignmentIn(BaseModel):
    """One slot of a new lineup: the family, its release and the prices frozen with it."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra=required(
            family_id=NON_BLANK,
            release_id=NON_BLANK,
            input_price_per_million={},
            output_price_per_million={},
        ),
    )

    family_id: str | None = None
    release_id: str | None = None
    input_price_per_million: PriceIn = None
    output_price_per_million: PriceIn = None


class ConfigIn(AdminBody):
    model_config = ConfigDict(
        json_schema_extra=required(version_name=NON_BLANK, assignments={"minItems": 1})
    )

    version_name: str | None = None
    methodology_version: str | None = None  # default v2
    notes: str | None = None
    assignments: list[AssignmentIn] | None = None

    @field_validator("assignments", mode="before")
    @classmethod
    def _lineup(cls, value: Any) -> Any:
        # The anchor's answers to a lineup that is not a list of objects.
        if value is None:
            return None
        if not isinstance(value, list):
            return []  # "At least one lineup assignment is required"
        if not all(isinstance(item, dict) for item in value):
            raise AppError(NOT_OBJECTS)
        return value


class PromoteIn(AdminBody):
    model_config = ConfigDict(json_schema_extra=required(config_id=NON_BLANK))

    config_id: str | None = None


class RolloverIn(AdminBody):
    model_config = ConfigDict(json_schema_extra=required(config_id=NON_BLANK))

    config_id: str | None = None
    apply: bool | None = None  # refused: only a preview is offered


# --- answers ----------------------------------------------------------------------------------


class ReleaseMetadata(BaseModel):
    """A release's `metadata_json`, parsed: what registered it and its default prices. Rows
    imported from the anchor may carry more keys; they are shown as stored."""

    model_config = ConfigDict(extra="allow")

    default_input_price_per_million: float | None = None
    default_output_price_per_million: float | None = None
    notes: str | None = None
    created_via: str | None = None  # migration, admin or lineup_review
    source_review_id: str | None = None  # the approved lineup review, when there was one


class ReleaseView(ReleaseRow):
    """A release with its default prices (from its metadata, else the slot's) and metadata."""

    default_input_price_per_million: float
    default_output_price_per_million: float
    metadata: ReleaseMetadata


class ReleaseCreated(Shape):
    success: bool
    release: ReleaseView


class ConfigView(ConfigRow):
    models: list[SlotRow]


class ConfigCreated(Shape):
    success: bool
    config: ConfigView


class ConfigPromoted(Shape):
    success: bool
    config_id: str
    version_name: str


class FamilyChange(Shape):
    family_id: str
    family_name: str
    from_release_name: str
    to_release_name: str
    affected_agents: int


class RolloverPreview(Shape):
    config_id: str
    version_name: str
    active_cohorts: int
    active_agents: int
    impacted_cohorts: int
    impacted_agents: int
    family_changes: list[FamilyChange]


class LineupCandidate(Shape):
    """One family's verdict in a lineup review."""

    family_id: str
    family_name: str
    current_release_id: str | None
    current_release_name: str | None
    current_openrouter_id: str | None
    candidate_openrouter_id: str | None
    candidate_name: str | None
    input_price_per_million: float | None
    output_price_per_million: float | None
    decision: str  # missing, unchanged, needs_review or upgrade
    reason: str


class ReviewSummary(Shape):
    id: str
    status: str  # open, no_changes, failed, approved or dismissed
    checked_at: Moment | None
    reviewed_at: Moment | None
    candidate_count: int
    target_config_id: str | None
    error_message: str | None
    candidates: list[LineupCandidate]


class ReviewApproved(Shape):
    success: bool
    review: ReviewSummary | None
    config_id: str
    version_name: str


class ReviewDismissed(Shape):
    success: bool
    review: ReviewSummary


class FamilyOverview(FamilyRow):
    current_release_id: str | None
    current_release_name: str | None
    current_openrouter_id: str | None
    current_input_price_per_million: float | None
    current_output_price_per_million: float | None
    releases: list[ReleaseView]


class SlotOverview(SlotRow):
    family_slug: str | None
    legacy_model_id: str | None


class ConfigOverview(ConfigRow):
    models: list[SlotOverview]


class BenchmarkOverview(Shape):
    default_config_id: str | None
    active_cohort_count: int
    active_agent_count: int
    latest_review: ReviewSummary | None
    families: list[FamilyOverview]
    configs: list[ConfigOverview]
    updated_at: Moment | None


# --- operations: stats, logs, costs, actions, exports (§12.3, §12.4) ----------------------------


class AdminStats(Shape):
    active_cohorts: int  # active and unarchived
    total_agents: int
    markets_tracked: int
    total_api_cost: float  # every decision's recorded cost
    updated_at: Moment


class LogsQuery(BaseModel):
    """`GET /api/admin/logs`: `severity` is `all` (default) or one severity; `limit` 1..500."""

    model_config = ConfigDict(extra="forbid")

    severity: Literal["all", "info", "warning", "error"] = "all"
    limit: Annotated[int, Field(ge=1, le=LOGS_LIMIT_MAX)] = LOGS_LIMIT_DEFAULT


class LogRow(Shape):
    """A `system_logs` row; `event_data` is the stored JSON text."""

    id: str
    event_type: str
    event_data: str | None
    severity: str | None
    created_at: Moment | None


class AdminLogs(Shape):
    logs: list[LogRow]
    updated_at: Moment


class FamilyCost(Shape):
    family_slug: str
    family_id: str
    legacy_model_id: str | None
    model_name: str
    color: str | None
    total_cost: float
    total_input_tokens: int
    total_output_tokens: int
    decision_count: int


class CohortCost(Shape):
    cohort_id: str
    cohort_number: int
    total_cost: float
    total_input_tokens: int
    total_output_tokens: int
    decision_count: int


class CostSummary(Shape):
    total_cost: float
    total_input_tokens: int
    total_output_tokens: int
    total_decisions: int
    avg_cost_per_decision: float


class AdminCosts(Shape):
    costs_by_model: list[FamilyCost]  # every active family, zeros included
    costs_by_cohort: list[CohortCost]  # every cohort, newest first
    summary: CostSummary  # every decision, inactive families' included
    updated_at: Moment


# The admin actions (`admin.ACTIONS`); any other text is the route's own 400 ("Unknown
# action"), so the choice is documented rather than validated here.
ACTION_NAMES = ("start-cohort", "sync-markets", "check-cohorts", "backup")
ActionName = Annotated[
    str | None,
    WithJsonSchema({"anyOf": [{"type": "string", "enum": list(ACTION_NAMES)}, {"type": "null"}]}),
]


class ActionIn(AdminBody):
    model_config = ConfigDict(json_schema_extra=required(action={}))

    action: ActionName = None
    force: StrictBool | None = None  # start-cohort only; only `true` forces


class CohortStartedAction(Shape):
    success: Literal[True]
    cohort_id: str
    cohort_number: int
    agents_created: int


class CohortNotStartedAction(Shape):
    success: Literal[False]
    message: str | None


class MarketsSyncedAction(Shape):
    success: bool
    markets_added: int
    markets_updated: int


class CohortsCheckedAction(Shape):
    success: bool
    cohorts_completed: int


class BackupAction(Shape):
    success: bool
    backup_path: str


AdminActionResult = (
    CohortStartedAction
    | CohortNotStartedAction
    | MarketsSyncedAction
    | CohortsCheckedAction
    | BackupAction
)


class ExportIn(AdminBody):
    """`POST /api/admin/export`. Dates are ISO 8601 instants (`2026-03-01T00:00:00.000Z`; a
    date or time without an offset is UTC)."""

    model_config = ConfigDict(
        json_schema_extra=required(
            cohort_id=NON_BLANK,
            **{"from": {"pattern": "^[0-9]{4}-[0-9]{2}-[0-9]{2}"}},
            to={"pattern": "^[0-9]{4}-[0-9]{2}-[0-9]{2}"},
        )
    )

    cohort_id: Annotated[str | None, Field(max_length=200)] = None
    from_: Annotated[str | None, Field(alias="from", max_length=64)] = None
    to: Annotated[str | None, Field(max_length=64)] = None
    tables: Annotated[list[Annotated[str, Field(max_length=64)]] | None, Field(max_length=64)] = (
        None
    )
    include_prompts: StrictBool | None = None  # only `true` includes prompts and raw responses


class ExportInfo(Shape):
    cohort_id: str
    from_: Moment = Field(alias="from")
    to: Moment
    tables: list[str]
    include_prompts: bool


class ExportCreated(Shape):
    success: bool
    download_url: str
    info: ExportInfo


class ExportFileQuery(BaseModel):
    """`GET /api/admin/export?file=`: the archive's name, as `download_url` gave it."""

    model_config = ConfigDict(extra="forbid")

    file: Annotated[str | None, Field(max_length=256)] = None
