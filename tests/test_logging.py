from __future__ import annotations

import io
import json
import logging
import sys
from typing import Any

import httpx
import structlog

from arenabrain.logging import STDERR, configure_logging, get_logger


def lines(stream: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in stream.getvalue().splitlines() if line.strip()]


def test_lines_carry_level_time_and_msg() -> None:
    out = io.StringIO()
    configure_logging("info", stream=out)
    get_logger().info("phase transition", phase="CLAIMING")
    (line,) = lines(out)
    assert line["level"] == "info"
    assert isinstance(line["time"], int) and line["time"] > 1_600_000_000_000
    assert line["msg"] == "phase transition"
    assert line["phase"] == "CLAIMING"


def test_errors_render_as_err_with_stack_only_at_debug() -> None:
    for level, has_stack in (("info", False), ("debug", True)):
        out = io.StringIO()
        configure_logging(level, stream=out)
        try:
            raise RuntimeError("OpenRouter API returned 429")
        except RuntimeError as exc:
            get_logger().error("Pipeline run failed", err=exc)
        (line,) = [entry for entry in lines(out) if entry["msg"] == "Pipeline run failed"]
        assert line["level"] == "error"
        err = line["err"]
        assert isinstance(err, dict)
        assert err["message"] == "OpenRouter API returned 429" and err["type"] == "RuntimeError"
        assert ("stack" in err) is has_stack


def test_run_id_is_bound_from_context() -> None:
    out = io.StringIO()
    configure_logging("info", stream=out)
    structlog.contextvars.bind_contextvars(runId="abc123")
    try:
        get_logger().info("claiming")
    finally:
        structlog.contextvars.unbind_contextvars("runId")
    assert lines(out)[0]["runId"] == "abc123"


def test_level_filters() -> None:
    out = io.StringIO()
    configure_logging("warn", stream=out)
    get_logger().info("hidden")
    get_logger().warning("shown")
    assert [line["msg"] for line in lines(out)] == ["shown"]
    assert lines(out)[0]["level"] == "warn"


def test_configured_secrets_and_holder_keys_are_redacted_everywhere() -> None:
    out = io.StringIO()
    configure_logging("info", secrets=["super-secret-token"], stream=out)
    get_logger().info(
        "calling with super-secret-token",
        headers={"Authorization": "Bearer super-secret-token"},
        keys=["sk-or-v1-0123456789abcdef"],
    )
    text = out.getvalue()
    assert "super-secret-token" not in text
    assert "sk-or-v1-0123456789abcdef" not in text
    assert text.count("[REDACTED]") == 3


async def test_access_line_per_request(client: httpx.AsyncClient, capsys) -> None:  # type: ignore[no-untyped-def]
    await client.get("/health/live?probe=1")
    records = [
        json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")
    ]
    access = [r for r in records if "req" in r]
    assert access, "no access line written"
    line = access[-1]
    assert line["req"] == {
        "method": "GET",
        "url": "/health/live?probe=1",
        "remoteAddress": "203.0.113.7",
    }
    assert line["res"] == {"statusCode": 200}
    assert isinstance(line["responseTime"], float)


def test_default_output_follows_the_process_stdout_even_after_a_swapped_one_closes(
    monkeypatch: Any,
) -> None:
    # A command run under a test runner (or any caller) may configure logging while sys.stdout is
    # a temporary stream that closes afterwards; later lines must go to the stdout of the moment.
    swapped, later = io.StringIO(), io.StringIO()
    monkeypatch.setattr(sys, "stdout", swapped)
    configure_logging("info")
    swapped.close()
    monkeypatch.setattr(sys, "stdout", later)
    get_logger().info("after the swap")
    assert json.loads(later.getvalue())["msg"] == "after the swap"
    logging.getLogger("alembic").info("a library line")
    assert "a library line" in later.getvalue()


def test_the_stderr_target_follows_the_process_stderr(monkeypatch: Any) -> None:
    swapped, later = io.StringIO(), io.StringIO()
    monkeypatch.setattr(sys, "stderr", swapped)
    configure_logging("info", stream=STDERR)
    swapped.close()
    monkeypatch.setattr(sys, "stderr", later)
    get_logger().info("to stderr")
    assert json.loads(later.getvalue())["msg"] == "to stderr"
