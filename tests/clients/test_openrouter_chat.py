"""The OpenRouter chat client against respx-mocked OpenAI-compatible servers."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from decimal import Decimal

import httpx
import pytest
import respx

from arenabrain.clients.openrouter.chat import (
    ChatResult,
    OpenRouterChatError,
    Prices,
    complete,
    request_body,
)

BASE = "https://openrouter.example/api/v1"
PRICES = Prices(Decimal("2"), Decimal("8"))


def completion(
    content: object = '{"action": "HOLD", "reasoning": "r"}', **extra: object
) -> dict[str, object]:
    body: dict[str, object] = {
        "id": "gen-1",
        "model": "openai/gpt-5.5",
        "choices": [
            {
                "index": 0,
                "finish_reason": "stop",
                "message": {"role": "assistant", "content": content},
            }
        ],
        "usage": {"prompt_tokens": 1000, "completion_tokens": 200, "total_tokens": 1200},
    }
    body.update(extra)
    return body


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=BASE + "/") as client:
        yield client


async def ask(
    http: httpx.AsyncClient, model: str = "openai/gpt-5.5", **kwargs: object
) -> ChatResult:
    values: dict[str, object] = {
        "api_key": "sk-test",
        "model": model,
        "system": "SYS",
        "user": "USER",
        "prices": PRICES,
        "site_url": "https://arena.example",
    }
    values.update(kwargs)
    return await complete(http, **values)  # type: ignore[arg-type]


@respx.mock
async def test_request_shape_headers_and_result(http: httpx.AsyncClient) -> None:
    route = respx.post(f"{BASE}/chat/completions").mock(
        return_value=httpx.Response(200, json=completion())
    )
    result = await ask(http)
    request = route.calls.last.request
    assert request.headers["authorization"] == "Bearer sk-test"
    assert request.headers["http-referer"] == "https://arena.example"
    assert request.headers["x-title"] == "Forecaster Arena"
    body = json.loads(request.content)
    assert body == {
        "model": "openai/gpt-5.5",
        "messages": [{"role": "system", "content": "SYS"}, {"role": "user", "content": "USER"}],
        "temperature": 0,
        "max_tokens": 16000,
    }
    assert result.text == '{"action": "HOLD", "reasoning": "r"}'
    assert (result.prompt_tokens, result.completion_tokens) == (1000, 200)
    # No usage.cost: estimated from the frozen prices (1000 x 2 + 200 x 8) / 1e6.
    assert result.cost_usd == Decimal("0.0036")
    assert result.cost_reported is False
    assert result.latency_ms >= 0
    assert result.finish_reason == "stop"


@pytest.mark.parametrize(
    ("model", "reasoning"),
    [
        ("google/gemini-3.1-pro-preview", True),
        ("moonshotai/kimi-k2.6", True),
        ("openai/gpt-5.5", False),
        ("google/gemini-2.5-flash", False),
    ],
)
def test_reasoning_budget_only_for_thinking_models(model: str, reasoning: bool) -> None:
    body = request_body(model, "s", "u")
    assert ("reasoning" in body) is reasoning
    if reasoning:
        assert body["reasoning"] == {"max_tokens": 4000}


@respx.mock
async def test_reported_cost_wins(http: httpx.AsyncClient) -> None:
    usage = {"prompt_tokens": 10, "completion_tokens": 5, "cost": 0.0061}
    respx.post(f"{BASE}/chat/completions").mock(
        return_value=httpx.Response(200, json=completion(usage=usage))
    )
    result = await ask(http)
    assert result.cost_usd == Decimal("0.0061")
    assert result.cost_reported is True


@respx.mock
async def test_minimal_openai_compatible_response(http: httpx.AsyncClient) -> None:
    body = {"choices": [{"message": {"content": "hi"}}]}
    respx.post(f"{BASE}/chat/completions").mock(return_value=httpx.Response(200, json=body))
    result = await ask(http)
    assert result.text == "hi"
    assert (result.prompt_tokens, result.completion_tokens, result.cost_usd) == (0, 0, Decimal(0))
    assert result.model == "openai/gpt-5.5"
    assert result.finish_reason == "unknown"


@respx.mock
async def test_content_parts_and_reasoning_fallback(http: httpx.AsyncClient) -> None:
    parts = [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]
    respx.post(f"{BASE}/chat/completions").mock(
        side_effect=[
            httpx.Response(200, json=completion(content=parts)),
            httpx.Response(
                200,
                json={"choices": [{"message": {"content": None, "reasoning": "from reasoning"}}]},
            ),
        ]
    )
    assert (await ask(http)).text == "ab"
    assert (await ask(http)).text == "from reasoning"


@pytest.mark.parametrize(
    ("status", "body", "message"),
    [
        (
            402,
            {"error": {"code": 402, "message": "Insufficient credits"}},
            "OpenRouter API error: 402 Insufficient credits",
        ),
        (500, "not json", "OpenRouter API error: 500 Internal Server Error"),
        (
            200,
            {"error": {"code": 502, "message": "Provider returned error"}},
            "OpenRouter error: Provider returned error (code 502)",
        ),
        (200, {"error": {}}, None),
        (200, {"id": "gen-1", "choices": []}, "No choices in OpenRouter response"),
        (200, {"id": "gen-1"}, "No choices in OpenRouter response"),
        (200, [1, 2], "OpenRouter response was not a JSON object"),
        (200, {"choices": [{"message": {"content": "  "}}]}, "No content in OpenRouter response"),
        (
            200,
            {
                "choices": [
                    {"finish_reason": "length", "message": {"content": None, "reasoning": ""}}
                ]
            },
            "No content in OpenRouter response",
        ),
        (
            200,
            {
                "choices": [
                    {
                        "finish_reason": "length",
                        "message": {"content": "", "reasoning": "thinking..."},
                    }
                ]
            },
            "Model exhausted tokens on reasoning",
        ),
    ],
)
@respx.mock
async def test_failures_raise_one_error(
    http: httpx.AsyncClient, status: int, body: object, message: str | None
) -> None:
    content = json.dumps(body).encode() if not isinstance(body, str) else body.encode()
    respx.post(f"{BASE}/chat/completions").mock(
        return_value=httpx.Response(status, content=content)
    )
    with pytest.raises(OpenRouterChatError) as caught:
        await ask(http)
    if message is None:
        # An empty error object still counts as "no usable answer".
        assert "choices" in caught.value.reason or "error" in caught.value.reason.lower()
    else:
        assert caught.value.reason.startswith(message)
    assert caught.value.status == status


async def test_missing_key_fails_before_any_request(http: httpx.AsyncClient) -> None:
    with respx.mock(assert_all_called=False) as mock:
        route = mock.post(f"{BASE}/chat/completions")
        with pytest.raises(OpenRouterChatError, match="OPENROUTER_API_KEY not configured"):
            await ask(http, api_key=None)
        assert route.call_count == 0


@respx.mock
async def test_timeout_is_reported_without_retry(http: httpx.AsyncClient) -> None:
    started = []

    async def slow(request: httpx.Request) -> httpx.Response:
        started.append(request)
        await asyncio.sleep(1)
        return httpx.Response(200, json=completion())

    respx.post(f"{BASE}/chat/completions").mock(side_effect=slow)
    with pytest.raises(OpenRouterChatError, match=r"timed out after 50ms"):
        await ask(http, time_limit=0.05)
    assert len(started) == 1


@respx.mock
async def test_transport_error_is_not_retried(http: httpx.AsyncClient) -> None:
    route = respx.post(f"{BASE}/chat/completions").mock(side_effect=httpx.ConnectError("refused"))
    with pytest.raises(OpenRouterChatError, match="OpenRouter request failed: ConnectError"):
        await ask(http)
    assert route.call_count == 1


@respx.mock
async def test_lone_surrogates_are_made_storable(http: httpx.AsyncClient) -> None:
    raw = b'{"choices": [{"message": {"content": "a\\ud800b"}}]}'
    respx.post(f"{BASE}/chat/completions").mock(return_value=httpx.Response(200, content=raw))
    result = await ask(http)
    result.text.encode("utf-8")
    assert result.text == "a?b"
