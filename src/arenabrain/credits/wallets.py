"""Solana wallet addresses: validation, and which token holders can receive a key.

Addresses are case-sensitive base58 public keys and are never case-folded (the anchor's B12).
A holder qualifies for a key only when it is a wallet someone can sign for: protocol accounts,
the burn address and off-curve owners (program-derived addresses such as pool vaults) are
removed before allocation."""

from __future__ import annotations

from solders.pubkey import Pubkey

from arenabrain.clients.solana import BURN_ADDRESS, WSOL_MINT

# The anchor's SOLANA_PROTOCOL_ADDRESSES (reference §11.4 and §11.10).
PROTOCOL_ADDRESSES = frozenset(
    {
        "11111111111111111111111111111111",
        "TokenkegQfeZyiNwAJbNbGKPFXCWuBvf9Ss623VQ5DA",
        "ATokenGPvbdGVxr1b2hvZbsiqW5xWH25efTNsLJA8knL",
        "SysvarRent111111111111111111111111111111111",
        BURN_ADDRESS,
        WSOL_MINT,
    }
)


def wallet_problem(value: str) -> str | None:
    """Why `value` is not a base58 Solana public key, or None when it is one."""
    if not isinstance(value, str) or not value:
        return "must be a base58 Solana public key"
    try:
        key = Pubkey.from_string(value)
    except (ValueError, TypeError):
        return f"{value!r} is not a base58 Solana public key (32 bytes)"
    if str(key) != value:
        return f"{value!r} is not in canonical base58 form"
    return None


def is_wallet(value: str) -> bool:
    return wallet_problem(value) is None


def ineligible_reason(owner: str) -> str | None:
    """Why a token holder cannot receive a key ('burn', 'protocol', 'off-curve', 'invalid')."""
    if owner == BURN_ADDRESS:
        return "burn"
    if owner in PROTOCOL_ADDRESSES:
        return "protocol"
    if not is_wallet(owner):
        return "invalid"
    if not Pubkey.from_string(owner).is_on_curve():
        return "off-curve"
    return None
