"""The Solana signing key, from SIGNER_PRIVATE_KEY as base58 or a JSON byte array: parsed where
the settings are checked and where the signer is built, so it lives below both."""

from __future__ import annotations

import json

import base58
from solders.keypair import Keypair


def keypair_from_text(text: str) -> Keypair:
    """Parse a 64-byte secret key given as base58 (wallet export) or a JSON array of bytes.

    Raises ValueError with a reason that never contains the key itself."""
    text = text.strip()
    if text.startswith("["):
        try:
            values = json.loads(text)
        except json.JSONDecodeError:
            raise ValueError("is not a valid JSON byte array") from None
        if not (
            isinstance(values, list) and all(isinstance(v, int) and 0 <= v <= 255 for v in values)
        ):
            raise ValueError("JSON form must be an array of integers 0 to 255")
        raw = bytes(values)
    else:
        try:
            raw = base58.b58decode(text)
        except ValueError:
            raise ValueError("is neither base58 nor a JSON byte array") from None
    if len(raw) != 64:
        raise ValueError(f"must decode to 64 bytes (got {len(raw)})")
    try:
        keypair = Keypair.from_bytes(raw)
    except BaseException:  # solders raises its own exception types
        raise ValueError("is not a valid ed25519 keypair") from None
    return keypair
