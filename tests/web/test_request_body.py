"""The body middlewares step aside for requests that cannot carry a body, and only for those."""

from __future__ import annotations

import pytest

from arenabrain.web.request_body import may_have_body


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ([], False),
        ([(b"host", b"x"), (b"content-length", b"0")], False),
        ([(b"content-length", b" 0 ")], False),
        ([(b"content-length", b"12")], True),
        ([(b"transfer-encoding", b"chunked")], True),
        ([(b"content-length", b"0"), (b"transfer-encoding", b"chunked")], True),
        ([(b"content-length", b"abc")], True),  # left to the limit and the server to refuse
    ],
)
def test_a_request_may_have_a_body_unless_its_framing_rules_one_out(
    headers: list[tuple[bytes, bytes]], expected: bool
) -> None:
    assert may_have_body({"type": "http", "headers": headers}) is expected
