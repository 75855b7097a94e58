"""Turn a model's free-text answer into a validated decision (pure; never raises).

Two stages, as in the anchor (§6.4 of the reference):

1. Cleaning is tolerant: surrounding whitespace, a Markdown code fence, one pair of outer quotes,
   and prose around the JSON are removed; when the text is not a JSON object on its own, the first
   balanced `{...}` that mentions `"action"` is taken (braces inside string literals ignored).
2. Validation is strict and uses the anchor's messages: a missing field, a wrong type, a string
   where a number belongs, a bet under $50 or over 25 % of cash (alone or summed over the decision),
   a sell outside 1..100 % are all errors; boundaries are inclusive.

Beyond the anchor, every bet may carry `p_yes`, the model's own probability that the market
resolves YES. It is optional; when present it must be a number in [0, 1]. A binary bet whose
`p_yes` points the other way from its side by more than 0.5 (buying YES while saying YES is
less likely than not, or buying NO while saying it is more likely) is kept and flagged, since a
value bet on a long shot is legitimate and only the market price could tell the two apart.
"""

from __future__ import annotations

import bisect
import json
import re
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any, Literal

Action = Literal["BET", "SELL", "HOLD", "ERROR"]

MIN_BET = Decimal("50")
MAX_BET_FRACTION = Decimal("0.25")
MIN_SELL_PERCENT = Decimal("1")
MAX_SELL_PERCENT = Decimal("100")
# How far p_yes may point away from the side bought before the bet is flagged.
P_YES_CONTRADICTION = Decimal("0.5")
SYSTEM_DEFAULT_PREFIX = "[SYSTEM DEFAULT] "
ACTION_MARKER = '"action"'

_FENCE_OPEN = re.compile(r"^```\s*(?:json)?\s*\n?", re.IGNORECASE)
_FENCE_CLOSE = re.compile(r"\n?```\s*$")


@dataclass(frozen=True)
class Bet:
    market_id: str
    side: str
    amount: Decimal
    p_yes: Decimal | None = None


@dataclass(frozen=True)
class Sell:
    position_id: str
    percentage: Decimal


@dataclass(frozen=True)
class PYesFlag:
    """A bet whose stated probability contradicts the side it buys."""

    market_id: str
    side: str
    p_yes: Decimal
    reason: str


@dataclass(frozen=True)
class ParsedDecision:
    action: Action
    reasoning: str
    bets: tuple[Bet, ...] = ()
    sells: tuple[Sell, ...] = ()
    error: str | None = None
    p_yes_flags: tuple[PYesFlag, ...] = field(default=())

    @property
    def is_valid(self) -> bool:
        return self.action != "ERROR"

    def to_json(self) -> str:
        """The decision as stored in `decisions.parsed_response` (numbers as JSON numbers)."""
        body: dict[str, Any] = {"action": self.action}
        if self.action == "BET":
            body["bets"] = [
                {"market_id": b.market_id, "side": b.side, "amount": _number(b.amount)}
                | ({"p_yes": _number(b.p_yes)} if b.p_yes is not None else {})
                for b in self.bets
            ]
        if self.action == "SELL":
            body["sells"] = [
                {"position_id": s.position_id, "percentage": _number(s.percentage)}
                for s in self.sells
            ]
        body["reasoning"] = self.reasoning
        if self.error is not None:
            body["error"] = self.error
        return json.dumps(body, ensure_ascii=False)

    def flags_json(self) -> str | None:
        """`decisions.p_yes_flags`: a JSON list, or None when nothing was flagged."""
        if not self.p_yes_flags:
            return None
        return json.dumps(
            [
                {
                    "market_id": f.market_id,
                    "side": f.side,
                    "p_yes": _number(f.p_yes),
                    "reason": f.reason,
                }
                for f in self.p_yes_flags
            ],
            ensure_ascii=False,
        )


class _Invalid(Exception):
    """A validation failure carrying the anchor's message."""


def error(message: str, reasoning: str = "") -> ParsedDecision:
    return ParsedDecision(action="ERROR", reasoning=reasoning, error=message)


def default_hold(last_error: str, retries: int) -> ParsedDecision:
    """The HOLD substituted when the model never produced a valid answer."""
    return ParsedDecision(
        action="HOLD",
        reasoning=f"{SYSTEM_DEFAULT_PREFIX}Failed after {retries} retries: {last_error}",
    )


def parse_decision(raw: str, cash: Decimal) -> ParsedDecision:
    """Parse and validate a model's answer against the agent's cash; never raises."""
    try:
        return _parse(raw, cash)
    except Exception as exc:  # the contract is "never raises": any surprise is a parse error
        return error(f"JSON parse error: {_exception_text(exc)}")


# --- cleaning --------------------------------------------------------------------------------


def clean_response(raw: str) -> str:
    """Strip fences, outer quotes and surrounding prose, as far as that can be done safely."""
    text = raw.strip()
    if len(text) >= 2 and text[0] == text[-1] == '"':
        # A JSON-encoded string holding the answer: decode it rather than strip the quotes.
        try:
            decoded = json.loads(text)
        except ValueError:
            decoded = None
        if isinstance(decoded, str):
            text = decoded.strip()
    if text.startswith("```"):
        text = _FENCE_CLOSE.sub("", _FENCE_OPEN.sub("", text, count=1), count=1)
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "\"'":
        text = text[1:-1]
    if not text.startswith("{"):
        text = extract_action_object(text) or text
    return text.strip()


def extract_action_object(text: str) -> str | None:
    """The first top-level balanced `{...}` whose text contains `"action"`, or None.

    One pass with a string-literal state machine (braces inside strings do not count). An object
    that never closes ends the search, as in the anchor. Linear in the input size, so a huge or
    hostile answer cannot stall a run (the anchor's restart-inside scan is quadratic)."""
    markers: list[int] = []
    at = text.find(ACTION_MARKER)
    while at != -1:
        markers.append(at)
        at = text.find(ACTION_MARKER, at + 1)
    if not markers:
        return None
    start = text.find("{")
    while start != -1:
        end = _matching_brace(text, start)
        if end is None:
            return None
        # Does a marker lie entirely inside text[start:end + 1]?
        i = bisect.bisect_left(markers, start)
        if i < len(markers) and markers[i] + len(ACTION_MARKER) <= end + 1:
            return text[start : end + 1]
        start = text.find("{", end + 1)
    return None


def _matching_brace(text: str, start: int) -> int | None:
    depth = 0
    in_string = False
    escaped = False
    for index in range(start, len(text)):
        char = text[index]
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char == "{":
            depth += 1
        elif char == "}":
            depth -= 1
            if depth == 0:
                return index
    return None


# --- parsing ---------------------------------------------------------------------------------


def _reject_constant(name: str) -> Any:
    # Python's json accepts NaN and Infinity; JSON (and the anchor) does not.
    raise ValueError(f"Unexpected token {name} in JSON")


def _loads(text: str) -> Any:
    return json.loads(text, parse_float=Decimal, parse_constant=_reject_constant)


def _parse(raw: str, cash: Decimal) -> ParsedDecision:
    if not isinstance(raw, str):
        return error("JSON parse error: response is not text")
    cleaned = clean_response(raw)
    try:
        data = _loads(cleaned)
    except ValueError as exc:
        # An object followed by prose ("{...} I chose this because...") still counts.
        extracted = extract_action_object(cleaned)
        if extracted is None or extracted == cleaned:
            return error(f"JSON parse error: {_exception_text(exc)}")
        try:
            data = _loads(extracted)
        except ValueError:
            return error(f"JSON parse error: {_exception_text(exc)}")
    if not isinstance(data, dict):
        return error("Missing action field")
    return _validate(data, _safe_cash(cash))


def _validate(data: dict[str, Any], cash: Decimal) -> ParsedDecision:
    action = data.get("action")
    if action is None or action is False or action == "" or action == 0:
        return error("Missing action field")
    reasoning = data.get("reasoning")
    if not isinstance(reasoning, str) or not reasoning.strip():
        return error("Missing or invalid reasoning field")
    reasoning = _text(reasoning)
    if not isinstance(action, str) or action.strip().upper() not in ("BET", "SELL", "HOLD"):
        shown = action if isinstance(action, str) else json.dumps(action, default=str)
        return error(f"Invalid action: {_text(shown)}", reasoning)
    kind = action.strip().upper()
    if kind == "HOLD":
        return ParsedDecision(action="HOLD", reasoning=reasoning)
    if kind == "BET":
        return _validate_bets(data.get("bets"), cash, reasoning)
    return _validate_sells(data.get("sells"), reasoning)


def _validate_bets(items: Any, cash: Decimal, reasoning: str) -> ParsedDecision:
    if not isinstance(items, list) or not items:
        return error("BET action requires non-empty bets array", reasoning)
    maximum = cash * MAX_BET_FRACTION
    bets: list[Bet] = []
    flags: list[PYesFlag] = []
    for item in items:
        try:
            bet = _bet(item, maximum)
        except _Invalid as exc:
            return error(f"Invalid bet: {exc}", reasoning)
        bets.append(bet)
        flag = p_yes_flag(bet)
        if flag is not None:
            flags.append(flag)
    total = sum((b.amount for b in bets), Decimal(0))
    if total > maximum:
        return error(
            f"Invalid bet batch: Total BET amount ${money(total)} exceeds maximum "
            f"decision allocation ${money(maximum)}",
            reasoning,
        )
    if total > cash:
        return error("Invalid bet batch: Total BET amount exceeds cash balance", reasoning)
    return ParsedDecision(
        action="BET", reasoning=reasoning, bets=tuple(bets), p_yes_flags=tuple(flags)
    )


def _bet(item: Any, maximum: Decimal) -> Bet:
    if not isinstance(item, dict):
        raise _Invalid("Missing market_id")
    market_id = item.get("market_id")
    if _falsy(market_id):
        raise _Invalid("Missing market_id")
    if not isinstance(market_id, str):
        raise _Invalid("market_id must be a string")
    side = item.get("side")
    if _falsy(side):
        raise _Invalid("Missing side")
    if not isinstance(side, str):
        raise _Invalid("side must be a string")
    amount = _json_number(item.get("amount"))
    if amount is None:
        raise _Invalid("Invalid amount")
    if not market_id.strip():
        raise _Invalid("Market ID cannot be empty")
    if not side.strip():
        raise _Invalid("Side cannot be empty")
    if amount < MIN_BET:
        raise _Invalid(f"Bet amount ${plain(amount)} is below minimum ${plain(MIN_BET)}")
    if amount > maximum:
        raise _Invalid(f"Bet amount ${plain(amount)} exceeds maximum ${money(maximum)}")
    p_yes: Decimal | None = None
    if item.get("p_yes") is not None:
        p_yes = _json_number(item["p_yes"])
        if p_yes is None or not Decimal(0) <= p_yes <= Decimal(1):
            raise _Invalid("p_yes must be a number between 0 and 1")
    side = _text(side.strip())
    if side.upper() in ("YES", "NO"):
        side = side.upper()
    return Bet(market_id=_text(market_id.strip()), side=side, amount=amount, p_yes=p_yes)


def p_yes_flag(bet: Bet) -> PYesFlag | None:
    """Flag a binary bet whose p_yes sits more than 0.5 away from the side it buys."""
    if bet.p_yes is None or bet.side not in ("YES", "NO"):
        return None
    target = Decimal(1) if bet.side == "YES" else Decimal(0)
    if abs(target - bet.p_yes) <= P_YES_CONTRADICTION:
        return None
    return PYesFlag(
        market_id=bet.market_id,
        side=bet.side,
        p_yes=bet.p_yes,
        reason=f"bought {bet.side} while stating p_yes {plain(bet.p_yes)}",
    )


def _validate_sells(items: Any, reasoning: str) -> ParsedDecision:
    if not isinstance(items, list) or not items:
        return error("SELL action requires non-empty sells array", reasoning)
    sells: list[Sell] = []
    for item in items:
        try:
            sells.append(_sell(item))
        except _Invalid as exc:
            return error(f"Invalid sell: {exc}", reasoning)
    return ParsedDecision(action="SELL", reasoning=reasoning, sells=tuple(sells))


def _sell(item: Any) -> Sell:
    if not isinstance(item, dict):
        raise _Invalid("Missing position_id")
    position_id = item.get("position_id")
    if _falsy(position_id):
        raise _Invalid("Missing position_id")
    if not isinstance(position_id, str):
        raise _Invalid("position_id must be a string")
    if not position_id.strip():
        raise _Invalid("Position ID cannot be empty")
    percentage = _json_number(item.get("percentage"))
    if percentage is None:
        raise _Invalid("Invalid percentage")
    if not MIN_SELL_PERCENT <= percentage <= MAX_SELL_PERCENT:
        raise _Invalid(f"Percentage must be 1-100, got {plain(percentage)}")
    return Sell(position_id=_text(position_id.strip()), percentage=percentage)


# --- values ----------------------------------------------------------------------------------


def _falsy(value: Any) -> bool:
    """JavaScript-style falsiness for the fields the anchor tests with `!value`."""
    return (
        value is None
        or value is False
        or value == ""
        or (isinstance(value, int | Decimal) and not isinstance(value, bool) and value == 0)
    )


def _json_number(value: Any) -> Decimal | None:
    """A finite JSON number as a Decimal; strings, booleans and anything else are None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return Decimal(value)
    if isinstance(value, Decimal) and value.is_finite():
        return value
    return None


def _safe_cash(cash: Any) -> Decimal:
    try:
        value = cash if isinstance(cash, Decimal) else Decimal(str(cash))
    except (InvalidOperation, ValueError):
        return Decimal(0)
    return value if value.is_finite() else Decimal(0)


def money(value: Decimal) -> str:
    """Two decimals, half up (JavaScript's `toFixed(2)` on these values)."""
    if not value.is_finite() or abs(value.adjusted()) > 40:
        return str(value)
    return str(value.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP))


def plain(value: Decimal) -> str:
    """A number as a person writes it: `50`, `49.99`, `0.3` (no exponent, no trailing zeros)."""
    if not value.is_finite() or abs(value.adjusted()) > 40:
        return str(value)
    text = format(value, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text or "0"


def _number(value: Decimal) -> int | float:
    return int(value) if value == value.to_integral_value() and abs(value) < 2**53 else float(value)


def _text(value: str) -> str:
    """Drop lone surrogates (valid in JSON escapes, unstorable as UTF-8)."""
    try:
        value.encode("utf-8")
        return value
    except UnicodeEncodeError:
        return value.encode("utf-8", "replace").decode("utf-8")


def _exception_text(exc: BaseException) -> str:
    return _text(str(exc)) or type(exc).__name__
