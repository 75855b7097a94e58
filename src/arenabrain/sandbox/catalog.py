"""The OpenRouter model catalog of the sandbox world, for the weekly lineup review.

It lists the current release of each of the seven families, one newer general-purpose release
(OpenAI GPT-5.6, which accepts images), specialised variants a review must ignore (a coder, a
mini, a flash and an image generator), and unrelated models. Shapes follow `GET /api/v1/models`:
prices are strings in USD per token, `architecture` is an object."""

from __future__ import annotations

from typing import Any

from arenabrain.sandbox.openrouter import openrouter_state
from arenabrain.sandbox.world import World

TEXT = {"modality": "text->text", "input_modalities": ["text"], "output_modalities": ["text"]}
VISION = {
    "modality": "text+image->text",
    "input_modalities": ["text", "image", "file"],
    "output_modalities": ["text"],
}
OMNI = {
    "modality": "text+image+audio+video->text",
    "input_modalities": ["text", "image", "audio", "video"],
    "output_modalities": ["text"],
}
IMAGE_OUT = {
    "modality": "text+image->text+image",
    "input_modalities": ["text", "image"],
    "output_modalities": ["text", "image"],
}


def model(
    model_id: str,
    name: str,
    prompt: str,
    completion: str,
    architecture: dict[str, Any] | None = None,
    created: int = 1_775_000_000,
) -> dict[str, Any]:
    """One catalog entry in OpenRouter's shape."""
    arch = dict(architecture or TEXT)
    arch.setdefault("tokenizer", name.split(":")[0])
    arch.setdefault("instruct_type", None)
    return {
        "id": model_id,
        "canonical_slug": model_id,
        "name": name,
        "created": created,
        "description": f"{name} (sandbox catalog entry)",
        "context_length": 200_000,
        "architecture": arch,
        "pricing": {"prompt": prompt, "completion": completion, "request": "0", "image": "0"},
        "top_provider": {"context_length": 200_000, "max_completion_tokens": 32_000},
        "per_request_limits": None,
        "supported_parameters": ["max_tokens", "temperature", "response_format"],
    }


def default_catalog() -> list[dict[str, Any]]:
    return [
        # The seeded lineup (several accept images: that is not a specialised variant).
        model("openai/gpt-5.5", "OpenAI: GPT-5.5", "0.000005", "0.00003", VISION, 1_770_000_000),
        model(
            "google/gemini-3.1-pro-preview",
            "Google: Gemini 3.1 Pro Preview",
            "0.000002",
            "0.000012",
            OMNI,
        ),
        model("x-ai/grok-4.3", "xAI: Grok 4.3", "0.00000125", "0.0000025", VISION),
        model(
            "anthropic/claude-opus-4.7",
            "Anthropic: Claude Opus 4.7",
            "0.000005",
            "0.000025",
            VISION,
        ),
        model("deepseek/deepseek-v4-pro", "DeepSeek: DeepSeek V4 Pro", "0.000000435", "0.00000087"),
        model("moonshotai/kimi-k2.6", "MoonshotAI: Kimi K2.6", "0.00000074", "0.00000349", VISION),
        model("qwen/qwen3.6-max-preview", "Qwen: Qwen3.6 Max Preview", "0.00000104", "0.00000624"),
        # A newer general-purpose release of one family, multimodal like most frontier models.
        model("openai/gpt-5.6", "OpenAI: GPT-5.6", "0.000006", "0.000018", VISION, 1_780_000_000),
        # Specialised variants with higher version numbers: a review must not pick them.
        model("openai/gpt-5.7-codex", "OpenAI: GPT-5.7 Codex", "0.000002", "0.00001"),
        model("openai/gpt-5.8-mini", "OpenAI: GPT-5.8 Mini", "0.0000004", "0.0000016"),
        model(
            "google/gemini-3.5-flash", "Google: Gemini 3.5 Flash", "0.0000003", "0.0000025", OMNI
        ),
        model("openai/gpt-6-image", "OpenAI: GPT-6 Image", "0.00001", "0.00004", IMAGE_OUT),
        model("x-ai/grok-4.9-fast", "xAI: Grok 4.9 Fast", "0.0000002", "0.0000005"),
        model("qwen/qwen3.9-coder", "Qwen: Qwen3.9 Coder", "0.0000003", "0.0000012"),
        model("qwen/qwen3.7-max:free", "Qwen: Qwen3.7 Max (free)", "0", "0"),
        # Unrelated providers.
        model("mistralai/mistral-large-2512", "Mistral: Mistral Large 3", "0.000002", "0.000006"),
        model("meta-llama/llama-5-70b-instruct", "Meta: Llama 5 70B", "0.0000004", "0.0000004"),
    ]


def seed_openrouter_catalog(world: World, catalog: list[dict[str, Any]] | None = None) -> None:
    """Give the OpenRouter emulator a catalog: `catalog`, or the default one when it has none."""
    state = openrouter_state(world)
    if catalog is not None:
        state["catalog"] = catalog
    elif not state.get("catalog"):
        state["catalog"] = default_catalog()
