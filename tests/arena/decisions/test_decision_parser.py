"""The decision parser: a table of raw model outputs and what each must become, plus properties."""

from __future__ import annotations

import json
from dataclasses import dataclass
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from arenabrain.arena.decisions.parser import (
    MAX_BET_FRACTION,
    MIN_BET,
    Bet,
    ParsedDecision,
    PYesFlag,
    Sell,
    clean_response,
    default_hold,
    extract_action_object,
    parse_decision,
)
from arenabrain.arena.decisions.prompts import (
    EXAMPLE_BET,
    EXAMPLE_HOLD,
    EXAMPLE_SELL,
    system_prompt,
)

CASH = Decimal("10000")
D = Decimal


def hold(reasoning: str = "r") -> ParsedDecision:
    return ParsedDecision(action="HOLD", reasoning=reasoning)


def bet(*bets: Bet, reasoning: str = "r", flags: tuple[PYesFlag, ...] = ()) -> ParsedDecision:
    return ParsedDecision(action="BET", reasoning=reasoning, bets=bets, p_yes_flags=flags)


def sell(*sells: Sell, reasoning: str = "r") -> ParsedDecision:
    return ParsedDecision(action="SELL", reasoning=reasoning, sells=sells)


def err(message: str, reasoning: str = "") -> ParsedDecision:
    return ParsedDecision(action="ERROR", reasoning=reasoning, error=message)


def parse_error() -> str:
    return "JSON parse error"


def j(**body: object) -> str:
    return json.dumps(body)


def one_bet(
    amount: object = 100, side: object = "YES", market_id: object = "m1", **extra: object
) -> str:
    item = {"market_id": market_id, "side": side, "amount": amount, **extra}
    return j(action="BET", bets=[item], reasoning="r")


def one_sell(percentage: object = 50, position_id: object = "p1") -> str:
    return j(
        action="SELL", sells=[{"position_id": position_id, "percentage": percentage}], reasoning="r"
    )


HOLD_JSON = '{"action": "HOLD", "reasoning": "r"}'


@dataclass(frozen=True)
class Case:
    id: str
    raw: str
    expected: ParsedDecision | str  # a str means "ERROR whose message starts with this"
    cash: Decimal = CASH


CASES = [
    # --- envelopes: fences, quotes, prose ------------------------------------------------------
    Case("plain-hold", HOLD_JSON, hold()),
    Case("lowercase-action", '{"action": "hold", "reasoning": "r"}', hold()),
    Case("action-with-spaces", '{"action": " Hold ", "reasoning": "r"}', hold()),
    Case("whitespace-around", "\n\n   " + HOLD_JSON + "  \n", hold()),
    Case("fence-json", "```json\n" + HOLD_JSON + "\n```", hold()),
    Case("fence-json-space", "``` json\n" + HOLD_JSON + "\n```", hold()),
    Case("fence-bare", "```\n" + HOLD_JSON + "\n```", hold()),
    Case("fence-upper-json", "```JSON\n" + HOLD_JSON + "\n```", hold()),
    Case("fence-no-newlines", "```json" + HOLD_JSON + "```", hold()),
    Case("fence-other-language", "```javascript\n" + HOLD_JSON + "\n```", hold()),
    Case("fence-after-prose", "My answer:\n```json\n" + HOLD_JSON + "\n```\nGood luck", hold()),
    Case("outer-double-quotes", '"' + HOLD_JSON + '"', hold()),
    Case("outer-single-quotes", "'" + HOLD_JSON + "'", hold()),
    Case("json-encoded-string", json.dumps(HOLD_JSON), hold()),
    Case("leading-quote-only", '"' + HOLD_JSON, hold()),
    Case("prose-before", "Here is my decision: " + HOLD_JSON, hold()),
    Case("prose-after", HOLD_JSON + "\nI decided to hold because nothing is mispriced.", hold()),
    Case("prose-both-sides", "Thinking...\n" + HOLD_JSON + "\nDone.", hold()),
    Case(
        "first-object-without-action-skipped",
        'Context {"note": 1} then ' + HOLD_JSON,
        hold(),
    ),
    Case(
        "braces-inside-strings",
        '{"action": "HOLD", "reasoning": "a {weird} } string {"}',
        hold("a {weird} } string {"),
    ),
    Case(
        "escaped-quotes",
        '{"action": "HOLD", "reasoning": "he said \\"no\\" {"}',
        hold('he said "no" {'),
    ),
    Case(
        "prose-braces-in-string-before",
        'Note: x {"action": "HOLD", "reasoning": "use } carefully"} end',
        hold("use } carefully"),
    ),
    Case("array-wrapping", "[" + HOLD_JSON + "]", hold()),
    Case("array-of-two-takes-first", "[" + HOLD_JSON + ', {"action": "BET"}]', hold()),
    Case(
        "nested-decision-object",
        'Result: {"decision": {"action": "HOLD", "reasoning": "r"}}',
        "Missing action field",
    ),
    Case(
        "unicode-reasoning",
        '{"action": "HOLD", "reasoning": "Préférence — 日本語 🚀"}',
        hold("Préférence — 日本語 🚀"),
    ),
    Case("unicode-escapes", '{"action": "HOLD", "reasoning": "caf\\u00e9"}', hold("café")),
    Case("lone-surrogate-replaced", '{"action": "HOLD", "reasoning": "x\\ud800y"}', hold("x?y")),
    Case(
        "duplicate-keys-last-wins", '{"action": "BET", "action": "HOLD", "reasoning": "r"}', hold()
    ),
    Case("hold-ignores-bets", j(action="HOLD", bets=[{"market_id": "m"}], reasoning="r"), hold()),
    # --- broken JSON ---------------------------------------------------------------------------
    Case("empty", "", parse_error()),
    Case("whitespace-only", "   \n ", parse_error()),
    Case("plain-prose", "I think I will hold this week.", parse_error()),
    Case("unclosed-object", '{"action": "HOLD", "reasoning": "r"', parse_error()),
    Case("unclosed-after-prose", 'Answer: {"action": "HOLD", "reasoning": "r"', parse_error()),
    Case("trailing-comma", '{"action": "HOLD", "reasoning": "r",}', parse_error()),
    Case("single-quoted-keys", "{'action': 'HOLD', 'reasoning': 'r'}", parse_error()),
    Case(
        "nan-amount",
        '{"action": "BET", "bets": [{"market_id": "m", "side": "YES", "amount": NaN}], "reasoning": "r"}',
        parse_error(),
    ),
    Case(
        "infinity-amount",
        '{"action": "BET", "bets": [{"market_id": "m", "side": "YES", "amount": Infinity}], "reasoning": "r"}',
        parse_error(),
    ),
    Case("deeply-nested", "[" * 50_000 + "]" * 50_000, parse_error()),
    Case("json-null", "null", "Missing action field"),
    Case("json-number", "42", "Missing action field"),
    Case("json-array-of-numbers", "[1, 2, 3]", "Missing action field"),
    # --- envelope validation -------------------------------------------------------------------
    Case("missing-action", '{"reasoning": "r"}', err("Missing action field")),
    Case("empty-action", '{"action": "", "reasoning": "r"}', err("Missing action field")),
    Case("null-action", '{"action": null, "reasoning": "r"}', err("Missing action field")),
    Case("missing-reasoning", '{"action": "HOLD"}', err("Missing or invalid reasoning field")),
    Case(
        "empty-reasoning",
        '{"action": "HOLD", "reasoning": ""}',
        err("Missing or invalid reasoning field"),
    ),
    Case(
        "blank-reasoning",
        '{"action": "HOLD", "reasoning": "   "}',
        err("Missing or invalid reasoning field"),
    ),
    Case(
        "numeric-reasoning",
        '{"action": "HOLD", "reasoning": 5}',
        err("Missing or invalid reasoning field"),
    ),
    Case("invalid-action", '{"action": "BUY", "reasoning": "r"}', err("Invalid action: BUY", "r")),
    Case("numeric-action", '{"action": 5, "reasoning": "r"}', err("Invalid action: 5", "r")),
    Case(
        "list-action",
        '{"action": ["HOLD"], "reasoning": "r"}',
        err('Invalid action: ["HOLD"]', "r"),
    ),
    # --- BET validation ------------------------------------------------------------------------
    Case("bet-basic", one_bet(), bet(Bet("m1", "YES", D(100)))),
    Case("bet-float-amount", one_bet(amount=123.45), bet(Bet("m1", "YES", D("123.45")))),
    Case("bet-side-canonical", one_bet(side=" no "), bet(Bet("m1", "NO", D(100)))),
    Case("bet-market-trimmed", one_bet(market_id="  m1 "), bet(Bet("m1", "YES", D(100)))),
    Case(
        "bet-multi-outcome-case-kept",
        one_bet(side="Alice Smith"),
        bet(Bet("m1", "Alice Smith", D(100))),
    ),
    Case("bet-unicode-outcome", one_bet(side="José Ñúñez"), bet(Bet("m1", "José Ñúñez", D(100)))),
    Case("bet-min-exact", one_bet(amount=50), bet(Bet("m1", "YES", D(50)))),
    Case("bet-min-exact-float", one_bet(amount=50.0), bet(Bet("m1", "YES", D(50)))),
    Case(
        "bet-below-min",
        one_bet(amount=49.99),
        err("Invalid bet: Bet amount $49.99 is below minimum $50", "r"),
    ),
    Case(
        "bet-zero", one_bet(amount=0), err("Invalid bet: Bet amount $0 is below minimum $50", "r")
    ),
    Case(
        "bet-negative",
        one_bet(amount=-100),
        err("Invalid bet: Bet amount $-100 is below minimum $50", "r"),
    ),
    Case("bet-max-exact", one_bet(amount=2500), bet(Bet("m1", "YES", D(2500)))),
    Case(
        "bet-max-exact-fraction-cash",
        one_bet(amount=250.01),
        bet(Bet("m1", "YES", D("250.01"))),
        cash=D("1000.04"),
    ),
    Case(
        "bet-above-max-by-a-cent",
        one_bet(amount=2500.01),
        err("Invalid bet: Bet amount $2500.01 exceeds maximum $2500.00", "r"),
    ),
    Case(
        "bet-above-max-small-cash",
        one_bet(amount=60),
        err("Invalid bet: Bet amount $60 exceeds maximum $50.00", "r"),
        cash=D(200),
    ),
    Case(
        "bet-cash-too-small-for-min",
        one_bet(amount=50),
        err("Invalid bet: Bet amount $50 exceeds maximum $49.75", "r"),
        cash=D(199),
    ),
    Case(
        "bet-zero-cash",
        one_bet(amount=50),
        err("Invalid bet: Bet amount $50 exceeds maximum $0.00", "r"),
        cash=D(0),
    ),
    Case("bet-exponent-amount", one_bet(amount=1e2), bet(Bet("m1", "YES", D(100)))),
    Case(
        "bet-huge-amount",
        '{"action": "BET", "bets": [{"market_id": "m", "side": "YES", "amount": 1e400}], "reasoning": "r"}',
        "Invalid bet: Bet amount $1E+400 exceeds maximum $2500.00",
    ),
    Case("bet-string-amount", one_bet(amount="100"), err("Invalid bet: Invalid amount", "r")),
    Case(
        "bet-string-amount-dollar", one_bet(amount="$100"), err("Invalid bet: Invalid amount", "r")
    ),
    Case("bet-bool-amount", one_bet(amount=True), err("Invalid bet: Invalid amount", "r")),
    Case("bet-null-amount", one_bet(amount=None), err("Invalid bet: Invalid amount", "r")),
    Case(
        "bet-object-amount", one_bet(amount={"usd": 100}), err("Invalid bet: Invalid amount", "r")
    ),
    Case(
        "bet-missing-market",
        j(action="BET", bets=[{"side": "YES", "amount": 100}], reasoning="r"),
        err("Invalid bet: Missing market_id", "r"),
    ),
    Case(
        "bet-blank-market",
        one_bet(market_id="   "),
        err("Invalid bet: Market ID cannot be empty", "r"),
    ),
    Case(
        "bet-numeric-market",
        one_bet(market_id=12345),
        err("Invalid bet: market_id must be a string", "r"),
    ),
    Case(
        "bet-missing-side",
        j(action="BET", bets=[{"market_id": "m1", "amount": 100}], reasoning="r"),
        err("Invalid bet: Missing side", "r"),
    ),
    Case("bet-blank-side", one_bet(side="  "), err("Invalid bet: Side cannot be empty", "r")),
    Case("bet-boolean-side", one_bet(side=True), err("Invalid bet: side must be a string", "r")),
    Case(
        "bet-missing-bets",
        j(action="BET", reasoning="r"),
        err("BET action requires non-empty bets array", "r"),
    ),
    Case(
        "bet-empty-bets",
        j(action="BET", bets=[], reasoning="r"),
        err("BET action requires non-empty bets array", "r"),
    ),
    Case(
        "bet-bets-object",
        j(action="BET", bets={"market_id": "m1"}, reasoning="r"),
        err("BET action requires non-empty bets array", "r"),
    ),
    Case(
        "bet-item-not-object",
        j(action="BET", bets=["m1"], reasoning="r"),
        err("Invalid bet: Missing market_id", "r"),
    ),
    Case(
        "bet-batch-at-limit",
        j(
            action="BET",
            bets=[
                {"market_id": "a", "side": "YES", "amount": 1250},
                {"market_id": "b", "side": "NO", "amount": 1250},
            ],
            reasoning="r",
        ),
        bet(Bet("a", "YES", D(1250)), Bet("b", "NO", D(1250))),
    ),
    Case(
        "bet-batch-over-limit",
        j(
            action="BET",
            bets=[
                {"market_id": "a", "side": "YES", "amount": 1500},
                {"market_id": "b", "side": "NO", "amount": 1000.01},
            ],
            reasoning="r",
        ),
        err(
            "Invalid bet batch: Total BET amount $2500.01 exceeds maximum decision allocation $2500.00",
            "r",
        ),
    ),
    Case(
        "bet-batch-second-leg-invalid",
        j(
            action="BET",
            bets=[
                {"market_id": "a", "side": "YES", "amount": 100},
                {"market_id": "b", "side": "NO", "amount": 10},
            ],
            reasoning="r",
        ),
        err("Invalid bet: Bet amount $10 is below minimum $50", "r"),
    ),
    # --- p_yes ---------------------------------------------------------------------------------
    Case("p-yes-consistent", one_bet(p_yes=0.7), bet(Bet("m1", "YES", D(100), D("0.7")))),
    Case("p-yes-zero", one_bet(side="NO", p_yes=0), bet(Bet("m1", "NO", D(100), D(0)))),
    Case("p-yes-one", one_bet(p_yes=1), bet(Bet("m1", "YES", D(100), D(1)))),
    Case("p-yes-null-is-absent", one_bet(p_yes=None), bet(Bet("m1", "YES", D(100)))),
    Case(
        "p-yes-at-contradiction-edge", one_bet(p_yes=0.5), bet(Bet("m1", "YES", D(100), D("0.5")))
    ),
    Case(
        "p-yes-contradicts-yes",
        one_bet(p_yes=0.2),
        bet(
            Bet("m1", "YES", D(100), D("0.2")),
            flags=(PYesFlag("m1", "YES", D("0.2"), "bought YES while stating p_yes 0.2"),),
        ),
    ),
    Case(
        "p-yes-contradicts-no",
        one_bet(side="no", p_yes=0.9),
        bet(
            Bet("m1", "NO", D(100), D("0.9")),
            flags=(PYesFlag("m1", "NO", D("0.9"), "bought NO while stating p_yes 0.9"),),
        ),
    ),
    Case(
        "p-yes-multi-outcome-never-flagged",
        one_bet(side="Alice", p_yes=0.1),
        bet(Bet("m1", "Alice", D(100), D("0.1"))),
    ),
    Case(
        "p-yes-above-one",
        one_bet(p_yes=1.2),
        err("Invalid bet: p_yes must be a number between 0 and 1", "r"),
    ),
    Case(
        "p-yes-negative",
        one_bet(p_yes=-0.1),
        err("Invalid bet: p_yes must be a number between 0 and 1", "r"),
    ),
    Case(
        "p-yes-string",
        one_bet(p_yes="0.6"),
        err("Invalid bet: p_yes must be a number between 0 and 1", "r"),
    ),
    Case(
        "p-yes-percent",
        one_bet(p_yes=60),
        err("Invalid bet: p_yes must be a number between 0 and 1", "r"),
    ),
    # --- SELL validation -----------------------------------------------------------------------
    Case("sell-basic", one_sell(), sell(Sell("p1", D(50)))),
    Case("sell-fraction", one_sell(percentage=33.3), sell(Sell("p1", D("33.3")))),
    Case("sell-min-exact", one_sell(percentage=1), sell(Sell("p1", D(1)))),
    Case("sell-max-exact", one_sell(percentage=100), sell(Sell("p1", D(100)))),
    Case(
        "sell-zero",
        one_sell(percentage=0),
        err("Invalid sell: Percentage must be 1-100, got 0", "r"),
    ),
    Case(
        "sell-below-one",
        one_sell(percentage=0.5),
        err("Invalid sell: Percentage must be 1-100, got 0.5", "r"),
    ),
    Case(
        "sell-above-100",
        one_sell(percentage=100.5),
        err("Invalid sell: Percentage must be 1-100, got 100.5", "r"),
    ),
    Case(
        "sell-string-percentage",
        one_sell(percentage="50"),
        err("Invalid sell: Invalid percentage", "r"),
    ),
    Case(
        "sell-missing-position",
        j(action="SELL", sells=[{"percentage": 50}], reasoning="r"),
        err("Invalid sell: Missing position_id", "r"),
    ),
    Case(
        "sell-blank-position",
        one_sell(position_id="  "),
        err("Invalid sell: Position ID cannot be empty", "r"),
    ),
    Case("sell-position-trimmed", one_sell(position_id=" p1\t"), sell(Sell("p1", D(50)))),
    Case(
        "sell-missing-sells",
        j(action="SELL", reasoning="r"),
        err("SELL action requires non-empty sells array", "r"),
    ),
    Case(
        "sell-empty-sells",
        j(action="SELL", sells=[], reasoning="r"),
        err("SELL action requires non-empty sells array", "r"),
    ),
    Case(
        "sell-two-positions",
        j(
            action="SELL",
            sells=[{"position_id": "a", "percentage": 100}, {"position_id": "b", "percentage": 25}],
            reasoning="r",
        ),
        sell(Sell("a", D(100)), Sell("b", D(25))),
    ),
    # --- huge inputs -----------------------------------------------------------------------------
    Case("huge-prose-around", "x" * 300_000 + HOLD_JSON + "y" * 300_000, hold()),
    Case("huge-reasoning", j(action="HOLD", reasoning="z" * 500_000), hold("z" * 500_000)),
    Case("many-objects-without-action", '{"a": 1} ' * 20_000 + HOLD_JSON, hold()),
    Case("many-unclosed-braces", "{" * 100_000, parse_error()),
    Case(
        "nested-braces-without-action",
        "note " + "{" * 5_000 + "}" * 5_000 + " " + HOLD_JSON,
        hold(),
    ),
]


def test_table_is_large_enough() -> None:
    assert len(CASES) >= 60
    assert len({c.id for c in CASES}) == len(CASES)


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_parse_decision(case: Case) -> None:
    result = parse_decision(case.raw, cash=case.cash)
    if isinstance(case.expected, str):
        assert result.action == "ERROR"
        assert result.error is not None and result.error.startswith(case.expected), result.error
    else:
        assert result == case.expected


def test_cleaning_leaves_plain_text_unchanged() -> None:
    assert clean_response("no json here") == "no json here"
    assert clean_response('dangling {"action": "HOLD"') == 'dangling {"action": "HOLD"'


def test_extraction_returns_none_without_marker() -> None:
    assert extract_action_object('{"a": {"b": 1}}') is None


def test_system_prompt_examples_are_valid_json_and_parse() -> None:
    for example in (EXAMPLE_BET, EXAMPLE_SELL, EXAMPLE_HOLD):
        assert example in system_prompt()
        assert json.loads(example)["action"] in {"BET", "SELL", "HOLD"}
    assert parse_decision(EXAMPLE_BET, CASH).action == "BET"
    assert parse_decision(EXAMPLE_SELL, CASH).action == "SELL"
    assert parse_decision(EXAMPLE_HOLD, CASH).action == "HOLD"


def test_default_hold_reasoning() -> None:
    result = default_hold("Missing action field", 1)
    assert result.action == "HOLD"
    assert result.reasoning == "[SYSTEM DEFAULT] Failed after 1 retries: Missing action field"


def test_parsed_json_round_trips_numbers() -> None:
    parsed = parse_decision(one_bet(amount=123.45, p_yes=0.7), CASH)
    assert json.loads(parsed.to_json()) == {
        "action": "BET",
        "bets": [{"market_id": "m1", "side": "YES", "amount": 123.45, "p_yes": 0.7}],
        "reasoning": "r",
    }
    flagged = parse_decision(one_bet(p_yes=0.1), CASH)
    assert json.loads(flagged.flags_json() or "[]")[0]["p_yes"] == 0.1
    assert parse_decision(one_bet(), CASH).flags_json() is None


def test_never_raises_on_non_text_input() -> None:
    assert parse_decision(None, CASH).action == "ERROR"  # type: ignore[arg-type]
    assert parse_decision(HOLD_JSON, "garbage").action == "HOLD"  # type: ignore[arg-type]


# --- properties --------------------------------------------------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=20,
)
amounts = st.one_of(
    st.integers(min_value=-10_000, max_value=100_000),
    st.floats(min_value=-1e6, max_value=1e6, allow_nan=False),
    st.text(max_size=5),
    st.none(),
    st.booleans(),
)
bet_items = st.fixed_dictionaries(
    {
        "market_id": st.one_of(st.text(max_size=8), st.integers(), st.none()),
        "side": st.one_of(st.sampled_from(["YES", "no", "Alice", " ", ""]), st.text(max_size=6)),
        "amount": amounts,
    },
    optional={
        "p_yes": st.one_of(
            st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=3), st.none()
        )
    },
)
sell_items = st.fixed_dictionaries(
    {"position_id": st.one_of(st.text(max_size=8), st.none()), "percentage": amounts}
)
decisions = st.fixed_dictionaries(
    {
        "action": st.one_of(st.sampled_from(["BET", "SELL", "HOLD", "bet", "X", ""]), json_values),
        "reasoning": st.one_of(st.text(max_size=30), json_values),
    },
    optional={
        "bets": st.one_of(st.lists(bet_items, max_size=5), json_values),
        "sells": st.one_of(st.lists(sell_items, max_size=4), json_values),
    },
)
wrappers = st.sampled_from(
    ["{}", "```json\n{}\n```", "Here: {} thanks", '"{}"', "[{}]", "{} trailing", "{}}", "{{}"]
)
cash_values = st.decimals(
    min_value=-100, max_value=1_000_000, allow_nan=False, allow_infinity=False, places=2
)


def assert_within_limits(result: ParsedDecision, cash: Decimal) -> None:
    if result.action == "BET":
        maximum = cash * MAX_BET_FRACTION
        assert result.bets
        for item in result.bets:
            assert MIN_BET <= item.amount <= maximum
            assert item.market_id and item.market_id == item.market_id.strip()
            assert item.side and item.side == item.side.strip()
            assert item.p_yes is None or 0 <= item.p_yes <= 1
        assert sum(b.amount for b in result.bets) <= maximum
        assert sum(b.amount for b in result.bets) <= cash
    if result.action == "SELL":
        assert result.sells
        for item in result.sells:
            assert 1 <= item.percentage <= 100
            assert item.position_id
    if result.action in {"BET", "SELL", "HOLD"}:
        assert result.reasoning.strip()
        assert result.error is None
    else:
        assert result.action == "ERROR" and result.error


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@given(raw=st.text(max_size=400), cash=cash_values)
def test_never_raises_on_any_text(raw: str, cash: Decimal) -> None:
    result = parse_decision(raw, cash)
    assert_within_limits(result, cash)


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@given(body=decisions, wrapper=wrappers, cash=cash_values)
def test_structured_answers_never_break_limits(
    body: dict[str, object], wrapper: str, cash: Decimal
) -> None:
    raw = wrapper.replace("{}", json.dumps(body), 1)
    result = parse_decision(raw, cash)
    assert_within_limits(result, cash)


@settings(max_examples=200)
@given(
    amount=st.decimals(min_value=0, max_value=5000, places=2),
    cash=st.decimals(min_value=0, max_value=20000, places=2),
)
def test_single_bet_accepted_exactly_within_inclusive_limits(
    amount: Decimal, cash: Decimal
) -> None:
    raw = one_bet(market_id="m").replace("100", str(amount))
    result = parse_decision(raw, cash)
    valid = MIN_BET <= amount <= cash * MAX_BET_FRACTION
    assert (result.action == "BET") == valid, (amount, cash, result.error)
