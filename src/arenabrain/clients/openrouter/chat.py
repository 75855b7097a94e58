"""OpenRouter chat completions (the arena's model calls): one request, one answer, no transport
retries.

Speaks the OpenAI-compatible dialect, so any such server works: only `choices[0].message` is
required in the response; `usage`, `usage.cost`, `model` and `finish_reason` are used when
present. A 200 whose body carries `error`, or has no `choices`, is a failure (OpenRouter reports
errors that way once generation has started). The only retry in the decision protocol is the
malformed-output retry, which the engine makes with a new prompt."""

from __future__ import annotations

import time
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

import httpx

from arenabrain.clients.errors import UpstreamError, error_message
from arenabrain.clients.openrouter.transport import UPSTREAM, exchange

CHAT_PATH = "chat/completions"
TEMPERATURE = 0
MAX_TOKENS = 16000
REASONING_MAX_TOKENS = 4000
# Model ids whose "thinking" needs an explicit budget, or they spend every token on it.
REASONING_MODELS = ("gemini-3", "kimi-k2")
TIMEOUT_SECONDS = 40.0
APP_TITLE = "Forecaster Arena"
PER_MILLION = Decimal(1_000_000)


class OpenRouterChatError(UpstreamError):
    """A chat completion that produced no usable text, with the status when there was one.
    It reads as its reason alone (the decision's stored error message)."""

    def __str__(self) -> str:
        return self.reason

    @classmethod
    def timeout_reason(cls, label: str, deadline: float | None) -> str:
        after = "" if deadline is None else f" after {int(deadline * 1000)}ms"
        return f"OpenRouter request timed out{after}"

    @classmethod
    def failure_reason(cls, label: str, exc: httpx.RequestError) -> str:
        return f"OpenRouter request failed: {type(exc).__name__}: {exc}"

    @classmethod
    def status_reason(cls, label: str, response: httpx.Response, detail: str) -> str:
        return f"OpenRouter API error: {response.status_code} {detail}"


@dataclass(frozen=True)
class Prices:
    """Frozen dollars per million tokens of one lineup slot (used when usage has no cost)."""

    input_per_million: Decimal
    output_per_million: Decimal


@dataclass(frozen=True)
class ChatResult:
    text: str
    prompt_tokens: int
    completion_tokens: int
    latency_ms: int
    cost_usd: Decimal
    cost_reported: bool  # True when the server reported the cost, False when estimated
    model: str
    finish_reason: str


def request_body(model: str, system: str, user: str) -> dict[str, Any]:
    body: dict[str, Any] = {
        "model": model,
        "messages": [{"role": "system", "content": system}, {"role": "user", "content": user}],
        "temperature": TEMPERATURE,
        "max_tokens": MAX_TOKENS,
    }
    if any(marker in model for marker in REASONING_MODELS):
        body["reasoning"] = {"max_tokens": REASONING_MAX_TOKENS}
    return body


def estimate_cost(prompt_tokens: int, completion_tokens: int, prices: Prices) -> Decimal:
    return (
        Decimal(prompt_tokens) * prices.input_per_million
        + Decimal(completion_tokens) * prices.output_per_million
    ) / PER_MILLION


async def complete(
    http: httpx.AsyncClient,
    *,
    api_key: str | None,
    model: str,
    system: str,
    user: str,
    prices: Prices,
    site_url: str,
    time_limit: float = TIMEOUT_SECONDS,
) -> ChatResult:
    """Ask `model` once; return its text, tokens, latency and cost, or raise the one error."""
    if not api_key:
        raise OpenRouterChatError(UPSTREAM, "OPENROUTER_API_KEY not configured")
    headers = {
        "Content-Type": "application/json",
        "HTTP-Referer": site_url,
        "X-Title": APP_TITLE,
    }
    started = time.perf_counter()  # a duration, not a date: the monotonic clock is right here
    response, body = await exchange(
        http,
        "POST",
        CHAT_PATH,
        key=api_key,
        error=OpenRouterChatError,
        deadline=time_limit,
        json=request_body(model, system, user),
        headers=headers,
    )
    latency_ms = int((time.perf_counter() - started) * 1000)
    return _result(response, body, model, prices, latency_ms)


def _result(
    response: httpx.Response, body: Any, model: str, prices: Prices, latency_ms: int
) -> ChatResult:
    """The answer of a 2xx exchange (the transport raised for any other status)."""
    if not isinstance(body, dict):
        raise _failed("OpenRouter response was not a JSON object", response)
    if body.get("error"):
        code = body["error"].get("code") if isinstance(body["error"], dict) else None
        reason = error_message(body) or "Unknown OpenRouter error"
        suffix = f" (code {code})" if code is not None else ""
        raise _failed(f"OpenRouter error: {reason}{suffix}", response)
    choices = body.get("choices")
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
        raise _failed("No choices in OpenRouter response", response)
    choice = choices[0]
    message: dict[str, Any] = choice["message"] if isinstance(choice.get("message"), dict) else {}
    finish_reason = str(choice.get("finish_reason") or "unknown")
    text = _content(message.get("content"))
    reasoning = _content(message.get("reasoning"))
    if not text.strip():
        text = reasoning if message.get("content") is None else text
    if not text.strip():
        if reasoning.strip() and finish_reason == "length":
            raise _failed(
                "Model exhausted tokens on reasoning before producing output. "
                "Consider increasing max_tokens for thinking models.",
                response,
            )
        raise _failed("No content in OpenRouter response", response)
    usage: dict[str, Any] = body["usage"] if isinstance(body.get("usage"), dict) else {}
    prompt_tokens = _count(usage.get("prompt_tokens"))
    completion_tokens = _count(usage.get("completion_tokens"))
    reported = _cost(usage.get("cost"))
    return ChatResult(
        text=_storable(text),
        prompt_tokens=prompt_tokens,
        completion_tokens=completion_tokens,
        latency_ms=latency_ms,
        cost_usd=reported
        if reported is not None
        else estimate_cost(prompt_tokens, completion_tokens, prices),
        cost_reported=reported is not None,
        model=str(body.get("model") or model),
        finish_reason=finish_reason,
    )


def _failed(reason: str, response: httpx.Response) -> OpenRouterChatError:
    """A 2xx answer that carries no usable text (a retry of the same prompt would not help)."""
    return OpenRouterChatError(UPSTREAM, reason, status=response.status_code)


def _content(value: Any) -> str:
    """Message content as text: a string, or the text parts of a list of content parts."""
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        parts = [p.get("text", "") for p in value if isinstance(p, dict)]
        return "".join(part for part in parts if isinstance(part, str))
    return ""


def _count(value: Any) -> int:
    if isinstance(value, bool):
        return 0
    if isinstance(value, int):
        return max(value, 0)
    if isinstance(value, float) and value == value and value >= 0:
        return int(value)
    return 0


def _cost(value: Any) -> Decimal | None:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    try:
        cost = Decimal(str(value))
    except InvalidOperation:
        return None
    return cost if cost.is_finite() and cost >= 0 else None


def _storable(text: str) -> str:
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:  # lone surrogates from JSON escapes cannot be stored
        return text.encode("utf-8", "replace").decode("utf-8")


@dataclass(frozen=True)
class OpenRouterChat:
    """`complete` with the service's key and site URL bound, over the OpenRouter httpx client."""

    http: httpx.AsyncClient
    api_key: str | None
    site_url: str

    async def complete(
        self,
        *,
        model: str,
        system: str,
        user: str,
        prices: Prices,
        time_limit: float = TIMEOUT_SECONDS,
    ) -> ChatResult:
        return await complete(
            self.http,
            api_key=self.api_key,
            model=model,
            system=system,
            user=user,
            prices=prices,
            site_url=self.site_url,
            time_limit=time_limit,
        )
