"""OpenRouter emulator: the public model catalog, the account's credits, and key management.

Key management follows the real API: a management key (any bearer that is not a provisioned
holder key, unless `openrouter_state(world)["management_keys"]` names them) creates keys with
`POST /api/v1/keys` (201, `{data, key:"sk-or-v1-<hex>"}`, the plaintext only there), lists them
100 per page, the newest first (`offset`, `include_disabled`; so offsets move when keys are
created or deleted mid-sweep), and reads, patches and deletes them by hash.
`limit_reset` must be daily/weekly/monthly/null and `expires_at` UTC (400 otherwise). Usage is
simulated with `spend(world, key_hash, usd)`: it raises the key's usage windows (midnight UTC,
weeks from Monday) and the account's `total_usage`; `limit_remaining = limit - usage` in the
key's reset window. `POST /api/v1/credits/coinbase` answers 410 like the real service.

Every request is recorded (`world.calls("openrouter", "PATCH")` counts top-ups);
`inject_failure(world, 503, ...)` answers the next requests with those statuses.

Usage can also accrue on its own: after `accrue_key_usage(world)` every key's holder spends
hour by hour on the world's clock, each key with its own habit (some idle, most spending a
few percent of their limit a day, a few heavy users who reach it), drawn from the world's seed
and the key's hash; before every request the emulator books the hours passed since it last
looked, each at its own hour, within the key's limit window and the account's credits.

Rate limits: `limit_rate(world, requests, seconds)` answers key-management requests past the
limit with 429 and `Retry-After`, as the real service does under load.

Faults: `arm_fault(world, fault, after=N, times=M)` makes requests of one key operation
(`create`, `list`, `get`, `patch`, `delete`, `credits`) fail, after letting N of them through,
M times (None: until `disarm_faults`). At stage `BEFORE` OpenRouter never sees the request; at
`AFTER_APPLY` it carries it out (a key is created, a limit changed) and the answer is lost, as
the client's read timeout (`"timeout"`) or an error status: 500 and 503 in OpenRouter's JSON
error body, 502 and 504 as the HTML page of the proxy in front of it. `FAULTS` names the usual
ones (`"create-500"`, `"patch-applied-then-timeout"`, ...)."""

from __future__ import annotations

import hashlib
import math
import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from http import HTTPStatus
from typing import Any, Literal

import httpx
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response

from arenabrain.sandbox.personas import mount_chat
from arenabrain.sandbox.world import World

KEY_PAGE = 100
LIMIT_RESETS = (None, "daily", "weekly", "monthly")
PATCHABLE = frozenset({"name", "disabled", "limit", "limit_reset", "include_byok_in_limit"})
CREATABLE = PATCHABLE - {"disabled"} | {"expires_at", "workspace_id"}


def openrouter_state(world: World) -> dict[str, Any]:
    if world.openrouter is None:
        world.openrouter = {
            "total_credits": 100.0,
            "total_usage": 0.0,
            "catalog": [],
            "down": False,
        }
    state = world.openrouter
    # Key management, added beside the original keys so existing worlds keep working.
    state.setdefault("keys", {})  # hash -> key record
    state.setdefault("key_serial", 0)
    state.setdefault("management_keys", None)  # None: any bearer but a holder key
    state.setdefault("fail_next", [])
    state.setdefault("faults", [])  # armed faults, see `arm_fault`
    state.setdefault("rate_limit", None)  # (requests, seconds) on key management, see below
    state.setdefault("rate_window", [None, 0])  # [window start, requests in it]
    state.setdefault("rate_limited", 0)  # 429s answered
    return state


def limit_rate(world: World, requests: int | None, seconds: float = 10.0) -> None:
    """Key management answers 429 (with `Retry-After`, OpenRouter's JSON error body) past
    `requests` per fixed window of `seconds` on the world's clock; None lifts the limit.
    A refused request is not carried out."""
    if requests is not None and (requests < 1 or seconds <= 0):
        raise ValueError("requests must be >= 1 and seconds > 0")
    state = openrouter_state(world)
    state["rate_limit"] = None if requests is None else (requests, seconds)
    state["rate_window"] = [None, 0]


def _rate_limited(world: World, state: dict[str, Any]) -> Response | None:
    """The 429 for this key-management request when the window is full, else None (counted)."""
    if state["rate_limit"] is None:
        return None
    allowed, seconds = state["rate_limit"]
    now = world.clock.now()
    start, count = state["rate_window"]
    if start is None or now >= start + timedelta(seconds=seconds):
        start, count = now, 0
    if count >= allowed:
        state["rate_limited"] += 1
        wait = max(1, math.ceil((start + timedelta(seconds=seconds) - now).total_seconds()))
        limited = _error(429, "Rate limit exceeded: too many requests")
        limited.headers["Retry-After"] = str(wait)
        return limited
    state["rate_window"] = [start, count + 1]
    return None


def inject_failure(world: World, *statuses: int) -> None:
    openrouter_state(world)["fail_next"].extend(statuses)


# --- faults ------------------------------------------------------------------------------------

Operation = Literal["create", "list", "get", "patch", "delete", "credits"]
OPERATIONS: tuple[str, ...] = ("create", "list", "get", "patch", "delete", "credits")
Stage = Literal["before", "after_apply"]
BEFORE: Stage = "before"  # OpenRouter never sees the request
AFTER_APPLY: Stage = "after_apply"  # OpenRouter carried it out; the answer is lost
Answer = Literal["timeout"] | int


@dataclass(frozen=True)
class Fault:
    """A failure of one key operation at `stage`, answered with `answer`: the client's read
    timeout or an HTTP error status."""

    operation: str
    stage: Stage
    answer: Answer

    def __post_init__(self) -> None:
        if self.operation not in OPERATIONS:
            raise ValueError(f"operation must be one of {OPERATIONS}, not {self.operation!r}")
        if self.stage not in (BEFORE, AFTER_APPLY):
            raise ValueError(f"stage must be {BEFORE!r} or {AFTER_APPLY!r}, not {self.stage!r}")
        if self.answer != "timeout" and not (
            isinstance(self.answer, int) and 400 <= self.answer <= 599
        ):
            raise ValueError(
                f"answer must be 'timeout' or an HTTP error status, not {self.answer!r}"
            )


CREATE_500 = "create-500"
CREATE_TIMEOUT = "create-timeout"
CREATE_APPLIED_THEN_500 = "create-applied-then-500"
CREATE_APPLIED_THEN_TIMEOUT = "create-applied-then-timeout"
PATCH_500 = "patch-500"
PATCH_TIMEOUT = "patch-timeout"
PATCH_APPLIED_THEN_500 = "patch-applied-then-500"
PATCH_APPLIED_THEN_502 = "patch-applied-then-502"
PATCH_APPLIED_THEN_TIMEOUT = "patch-applied-then-timeout"
FAULTS: dict[str, Fault] = {
    CREATE_500: Fault("create", BEFORE, 500),
    CREATE_TIMEOUT: Fault("create", BEFORE, "timeout"),
    CREATE_APPLIED_THEN_500: Fault("create", AFTER_APPLY, 500),
    CREATE_APPLIED_THEN_TIMEOUT: Fault("create", AFTER_APPLY, "timeout"),
    PATCH_500: Fault("patch", BEFORE, 500),
    PATCH_TIMEOUT: Fault("patch", BEFORE, "timeout"),
    PATCH_APPLIED_THEN_500: Fault("patch", AFTER_APPLY, 500),
    PATCH_APPLIED_THEN_502: Fault("patch", AFTER_APPLY, 502),
    PATCH_APPLIED_THEN_TIMEOUT: Fault("patch", AFTER_APPLY, "timeout"),
}


def arm_fault(world: World, *faults: str | Fault, after: int = 0, times: int | None = 1) -> None:
    """Arm faults (a `Fault` or a name from `FAULTS`): each lets `after` requests of its
    operation through, then fails the next `times` of them (None: every one until disarmed)."""
    if after < 0 or (times is not None and times < 1):
        raise ValueError("after must be >= 0 and times >= 1 (or None)")
    armed = []
    for fault in faults:
        if isinstance(fault, str):
            if fault not in FAULTS:
                raise ValueError(f"unknown fault {fault!r}; use one of {sorted(FAULTS)}")
            fault = FAULTS[fault]
        armed.append({"fault": fault, "after": after, "times": times})
    openrouter_state(world)["faults"].extend(armed)


def armed_faults(world: World) -> list[Fault]:
    """The faults still armed, in the order they were armed."""
    return [entry["fault"] for entry in openrouter_state(world)["faults"]]


def disarm_faults(world: World) -> None:
    """OpenRouter answers normally again."""
    openrouter_state(world)["faults"].clear()


def _take_fault(state: dict[str, Any], operation: str | None) -> Fault | None:
    """The fault this request meets, if any, counting down its `after` and `times`."""
    if operation is None:
        return None
    for entry in state["faults"]:
        if entry["fault"].operation != operation:
            continue
        if entry["after"] > 0:
            entry["after"] -= 1
            return None
        if entry["times"] is not None:
            entry["times"] -= 1
            if entry["times"] == 0:
                state["faults"].remove(entry)
        fault: Fault = entry["fault"]
        return fault
    return None


def _operation(method: str, path: str) -> str | None:
    """The key operation a request performs (None for the catalog, chat and the rest)."""
    parts = path.rstrip("/").split("/")[3:]  # after /api/v1
    if parts == ["keys"]:
        return {"POST": "create", "GET": "list"}.get(method)
    if len(parts) == 2 and parts[0] == "keys":
        return {"GET": "get", "PATCH": "patch", "DELETE": "delete"}.get(method)
    if parts == ["credits"] and method == "GET":
        return "credits"
    return None


def _fault_answer(fault: Fault) -> Response:
    if fault.answer == "timeout":
        # Raised through the ASGI transport: the client sees its own read timeout. (Served over
        # a real socket, the server would answer 500 instead.)
        raise httpx.ReadTimeout("emulated: no answer before the client's timeout")
    status = int(fault.answer)
    phrase = HTTPStatus(status).phrase
    if status in (502, 504):  # the proxy in front of OpenRouter answers, in HTML
        title = f"{status} {phrase}"
        page = f"<html><head><title>{title}</title></head><body><h1>{title}</h1></body></html>"
        return Response(page, status, media_type="text/html")
    return _error(status, phrase)


def spend(world: World, key_hash: str, usd: Decimal | str | float) -> Decimal:
    """Simulate a holder spending `usd` with a key; returns what was actually spent.

    A disabled or expired key spends nothing; spending stops at the key's remaining limit and
    at the account's remaining credits, as the real service refuses requests past them."""
    state = openrouter_state(world)
    record = state["keys"][key_hash]
    now = world.clock.now()
    wanted = Decimal(str(usd))
    if record["disabled"] or (record["expires_at"] is not None and record["expires_at"] <= now):
        return Decimal(0)
    remaining = _limit_remaining(record, now)
    if remaining is not None:
        wanted = min(wanted, remaining)
    account_left = Decimal(str(state["total_credits"])) - Decimal(str(state["total_usage"]))
    wanted = max(min(wanted, account_left), Decimal(0))
    if wanted > 0:
        record["spends"].append((now, wanted))
        state["total_usage"] = float(Decimal(str(state["total_usage"])) + wanted)
    return wanted


# Holders' habits under `accrue_key_usage`: the share of keys never used, the daily spend of the
# others as a share of their limit (log-uniform), the share of heavy users, and what a key
# without a limit is measured against.
HEAVY_SHARE = 0.1
DAILY_SHARE = (0.01, 0.12)
HEAVY_DAILY_SHARE = 0.35
UNLIMITED_BASIS = Decimal("5")
HOUR = timedelta(hours=1)


def accrue_key_usage(world: World, *, idle_share: float = 0.3) -> None:
    """From now on every key's holder spends on its own, hour by hour (see the module)."""
    if not 0 <= idle_share <= 1:
        raise ValueError("idle_share must be within 0..1")
    now = world.clock.now()
    openrouter_state(world)["usage_accrual"] = {
        "idle_share": idle_share,
        "until": now.replace(minute=0, second=0, microsecond=0),
    }


def accrue_usage(world: World) -> Decimal:
    """Book every key's spending for the whole hours passed since the last call; returns the
    dollars booked (nothing unless `accrue_key_usage` was called)."""
    state = openrouter_state(world)
    config = state.get("usage_accrual")
    if config is None:
        return Decimal(0)
    until = world.clock.now().replace(minute=0, second=0, microsecond=0)
    since = config["until"]
    if until <= since:
        return Decimal(0)
    booked = Decimal(0)
    for record in sorted(state["keys"].values(), key=lambda r: r["order"]):
        booked += _book_hours(world, state, record, since, until, config["idle_share"])
    config["until"] = until
    return booked


def _daily_spend(seed: int, record: dict[str, Any], idle_share: float) -> Decimal:
    """What the key's holder spends on an average day (0 for an idle holder)."""
    habit = random.Random(f"{seed}:key-usage:{record['hash']}")
    if habit.random() < idle_share:
        return Decimal(0)
    heavy = habit.random() < HEAVY_SHARE
    low, high = DAILY_SHARE
    share = HEAVY_DAILY_SHARE if heavy else math.exp(habit.uniform(math.log(low), math.log(high)))
    basis = record["limit"] if record["limit"] is not None else UNLIMITED_BASIS
    return basis * Decimal(str(round(share, 6)))


def _book_hours(
    world: World,
    state: dict[str, Any],
    record: dict[str, Any],
    since: datetime,
    until: datetime,
    idle_share: float,
) -> Decimal:
    daily = _daily_spend(world.seed, record, idle_share)
    if daily <= 0 or record["disabled"]:
        return Decimal(0)
    moment = max(since, record["created_at"].replace(minute=0, second=0, microsecond=0)) + HOUR
    booked = Decimal(0)
    window: datetime | None = None
    remaining: Decimal | None = None
    while moment <= until:
        expires = record["expires_at"]
        if expires is not None and expires <= moment:
            break
        hour = int(moment.timestamp() // 3600)
        burst = random.Random(f"{world.seed}:key-hour:{record['hash']}:{hour}")
        wanted = daily / 24 * Decimal(str(round(burst.lognormvariate(-0.5, 1.0), 6)))
        if record["limit"] is not None:
            start = _window_start(record["limit_reset"], moment)
            if remaining is None or start != window:
                window, remaining = start, _limit_remaining(record, moment)
            assert remaining is not None
            wanted = min(wanted, remaining)
        left = Decimal(str(state["total_credits"])) - Decimal(str(state["total_usage"]))
        wanted = max(min(wanted, left), Decimal(0)).quantize(Decimal("0.000001"))
        if wanted > 0:
            record["spends"].append((moment, wanted))
            state["total_usage"] = float(Decimal(str(state["total_usage"])) + wanted)
            booked += wanted
            if remaining is not None:
                remaining -= wanted
        moment += HOUR
    return booked


def _new_key(
    world: World,
    name: str,
    limit: Decimal | None,
    limit_reset: str | None,
    expires_at: datetime | None,
    *,
    include_byok_in_limit: bool = False,
    workspace_id: str | None = None,
) -> tuple[dict[str, Any], str]:
    """Store a new key (the newest) and return its record and plaintext."""
    state = openrouter_state(world)
    secret = world.rng.randbytes(32).hex()
    plaintext = f"sk-or-v1-{secret}"
    state["key_serial"] += 1
    record: dict[str, Any] = {
        "hash": hashlib.sha256(plaintext.encode()).hexdigest(),
        "name": name,
        "label": f"sk-or-v1-{secret[:3]}...{secret[-3:]}",
        "disabled": False,
        "limit": limit,
        "limit_reset": limit_reset,
        "include_byok_in_limit": include_byok_in_limit,
        "created_at": world.clock.now(),
        "updated_at": None,
        "expires_at": expires_at,
        "workspace_id": workspace_id,
        "spends": [],
        "order": state["key_serial"],
    }
    state["keys"][record["hash"]] = record
    return record, plaintext


def seed_keys(
    world: World, names: list[str], limit: Decimal | str = "10", limit_reset: str | None = None
) -> list[str]:
    """Keys already on the account (as if created earlier), in order; returns their hashes."""
    if limit_reset not in LIMIT_RESETS:
        raise ValueError(f"limit_reset must be one of {LIMIT_RESETS}")
    return [
        _new_key(world, name, Decimal(str(limit)), limit_reset, None)[0]["hash"] for name in names
    ]


def key_record(world: World, key_hash: str) -> dict[str, Any] | None:
    return openrouter_state(world)["keys"].get(key_hash)


def build(world: World) -> FastAPI:
    app = FastAPI(title="OpenRouter emulator (sandbox)")
    state = openrouter_state(world)

    @app.middleware("http")
    async def record(request: Request, call_next: Any) -> Any:
        world.record("openrouter", request.method, request.url.path)
        accrue_usage(world)  # the holders used their keys since the last request
        if state["down"]:
            return JSONResponse({"error": {"code": 503, "message": "unavailable"}}, 503)
        if state["fail_next"]:
            status = state["fail_next"].pop(0)
            return _error(status, "injected failure")
        operation = _operation(request.method, request.url.path)
        if operation is not None and (limited := _rate_limited(world, state)) is not None:
            return limited
        fault = _take_fault(state, operation)
        if fault is not None and fault.stage == BEFORE:
            return _fault_answer(fault)
        response = await call_next(request)
        if fault is not None:  # carried out; the answer never reaches the caller
            return _fault_answer(fault)
        return response

    @app.get("/api/v1/models")
    async def models() -> dict[str, Any]:
        return {"data": state["catalog"]}

    @app.get("/api/v1/credits")
    async def credits(request: Request) -> Any:
        if not request.headers.get("authorization", "").startswith("Bearer "):
            missing = {"error": {"code": 401, "message": "No auth credentials found"}}
            return JSONResponse(missing, 401)
        totals = {key: state[key] for key in ("total_credits", "total_usage")}
        return {"data": totals}

    @app.post("/api/v1/credits/coinbase")
    async def coinbase() -> Any:
        message = (
            "The Coinbase APIs used by this endpoint have been deprecated. "
            "Please purchase credits at https://openrouter.ai/settings/credits"
        )
        return _error(410, message)

    @app.post("/api/v1/keys")
    async def create_key(request: Request) -> Any:
        if (denied := _management(request, state)) is not None:
            return denied
        body = await _body(request)
        if isinstance(body, JSONResponse):
            return body
        unknown = set(body) - CREATABLE
        name = body.get("name")
        if unknown or not isinstance(name, str) or not name.strip():
            return _error(400, f"Invalid request: name is required; unknown {sorted(unknown)}")
        problem = _validate(body)
        if problem:
            return _error(400, problem)
        expires_at = _expiry(body.get("expires_at"))
        if isinstance(expires_at, str):
            return _error(400, expires_at)
        now = world.clock.now()
        if expires_at is not None and expires_at <= now:
            return _error(400, "expires_at must be in the future")
        new_key, plaintext = _new_key(
            world,
            name,
            _money(body.get("limit")),
            body.get("limit_reset"),
            expires_at,
            include_byok_in_limit=bool(body.get("include_byok_in_limit", False)),
            workspace_id=body.get("workspace_id"),
        )
        return JSONResponse({"data": _key_wire(new_key, now), "key": plaintext}, 201)

    @app.get("/api/v1/keys")
    async def list_keys(request: Request) -> Any:
        if (denied := _management(request, state)) is not None:
            return denied
        offset_text = request.query_params.get("offset", "0")
        if not offset_text.isdigit():
            return _error(400, "offset must be a non-negative integer")
        include_disabled = request.query_params.get("include_disabled", "false") == "true"
        records = sorted(state["keys"].values(), key=lambda r: r["order"], reverse=True)
        records = [r for r in records if include_disabled or not r["disabled"]]
        offset = int(offset_text)
        now = world.clock.now()
        return {"data": [_key_wire(r, now) for r in records[offset : offset + KEY_PAGE]]}

    @app.get("/api/v1/keys/{key_hash}")
    async def get_key(key_hash: str, request: Request) -> Any:
        if (denied := _management(request, state)) is not None:
            return denied
        record = state["keys"].get(key_hash)
        if record is None:
            return _error(404, "Key not found")
        return {"data": _key_wire(record, world.clock.now())}

    @app.patch("/api/v1/keys/{key_hash}")
    async def update_key(key_hash: str, request: Request) -> Any:
        if (denied := _management(request, state)) is not None:
            return denied
        record = state["keys"].get(key_hash)
        if record is None:
            return _error(404, "Key not found")
        body = await _body(request)
        if isinstance(body, JSONResponse):
            return body
        unknown = set(body) - PATCHABLE
        if unknown:
            return _error(400, f"Invalid request: unknown fields {sorted(unknown)}")
        problem = _validate(body)
        if problem:
            return _error(400, problem)
        for field in PATCHABLE & set(body):
            record[field] = _money(body[field]) if field == "limit" else body[field]
        record["updated_at"] = world.clock.now()
        return {"data": _key_wire(record, world.clock.now())}

    @app.delete("/api/v1/keys/{key_hash}")
    async def delete_key(key_hash: str, request: Request) -> Any:
        if (denied := _management(request, state)) is not None:
            return denied
        if state["keys"].pop(key_hash, None) is None:
            return _error(404, "Key not found")
        return {"deleted": True}

    mount_chat(app, world)
    return app


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": {"code": status, "message": message}}, status)


def _management(request: Request, state: dict[str, Any]) -> JSONResponse | None:
    header = request.headers.get("authorization", "")
    if not header.startswith("Bearer ") or not header[7:].strip():
        return _error(401, "No auth credentials found")
    token = header[7:].strip()
    allowed = state["management_keys"]
    holder_key = hashlib.sha256(token.encode()).hexdigest() in state["keys"]
    if holder_key or (allowed is not None and token not in allowed):
        return _error(401, "Only management keys can perform this operation")
    return None


async def _body(request: Request) -> dict[str, Any] | JSONResponse:
    try:
        body = await request.json()
    except ValueError:
        return _error(400, "Invalid JSON body")
    return body if isinstance(body, dict) else _error(400, "Invalid JSON body")


def _validate(body: dict[str, Any]) -> str | None:
    if "limit_reset" in body and body["limit_reset"] not in LIMIT_RESETS:
        return (
            f"Invalid limit_reset {body['limit_reset']!r}: expected daily, weekly, monthly or null"
        )
    if "limit" in body:
        limit = body["limit"]
        if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int | float)):
            return "limit must be a number or null"
        if limit is not None and limit < 0:
            return "limit must not be negative"
    for flag in ("disabled", "include_byok_in_limit"):
        if flag in body and not isinstance(body[flag], bool):
            return f"{flag} must be a boolean"
    if "name" in body and not isinstance(body["name"], str):
        return "name must be a string"
    return None


def _expiry(value: Any) -> datetime | str | None:
    """The parsed UTC expiry, or the 400 message for a value the real API refuses."""
    if value is None:
        return None
    if not isinstance(value, str):
        return "expires_at must be an ISO 8601 string"
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return "expires_at must be an ISO 8601 date-time"
    if moment.tzinfo is None or moment.utcoffset() != timedelta(0):
        return "expires_at must be in UTC"
    return moment.astimezone(UTC)


def _money(value: Any) -> Decimal | None:
    return None if value is None else Decimal(str(value))


def _window_start(reset: str | None, now: datetime) -> datetime | None:
    midnight = now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    if reset == "daily":
        return midnight
    if reset == "weekly":
        return midnight - timedelta(days=midnight.weekday())  # weeks run Monday to Sunday
    if reset == "monthly":
        return midnight.replace(day=1)
    return None


def _usage_since(record: dict[str, Any], start: datetime | None) -> Decimal:
    return sum(
        (amount for moment, amount in record["spends"] if start is None or moment >= start),
        Decimal(0),
    )


def _limit_remaining(record: dict[str, Any], now: datetime) -> Decimal | None:
    if record["limit"] is None:
        return None
    used = _usage_since(record, _window_start(record["limit_reset"], now))
    return max(record["limit"] - used, Decimal(0))


def _time(moment: datetime | None) -> str | None:
    if moment is None:
        return None
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _number(value: Decimal | None) -> float | int | None:
    if value is None:
        return None
    return int(value) if value == value.to_integral_value() else float(value)


def _key_wire(record: dict[str, Any], now: datetime) -> dict[str, Any]:
    remaining = _limit_remaining(record, now)
    return {
        "hash": record["hash"],
        "name": record["name"],
        "label": record["label"],
        "disabled": record["disabled"],
        "limit": _number(record["limit"]),
        "limit_remaining": _number(remaining),
        "limit_reset": record["limit_reset"],
        "include_byok_in_limit": record["include_byok_in_limit"],
        "usage": _number(_usage_since(record, None)),
        "usage_daily": _number(_usage_since(record, _window_start("daily", now))),
        "usage_weekly": _number(_usage_since(record, _window_start("weekly", now))),
        "usage_monthly": _number(_usage_since(record, _window_start("monthly", now))),
        "byok_usage": 0,
        "byok_usage_daily": 0,
        "byok_usage_weekly": 0,
        "byok_usage_monthly": 0,
        "created_at": _time(record["created_at"]),
        "updated_at": _time(record["updated_at"]),
        "expires_at": _time(record["expires_at"]),
        "creator_user_id": "user_sandbox",
        "workspace_id": record["workspace_id"],
    }
