"""Holders collect their keys: a one-time challenge signed with the wallet, then the plaintext once.

1. `issue_challenge(wallet)` picks the wallet's newest live key that still waits for collection,
   stores a fresh nonce (hashed: a database reader cannot replay it) valid for a few minutes, and
   answers a human-readable message naming the service, the wallet, the key and the expiry, so a
   wallet app shows the holder what is being signed.
2. `collect_key(wallet, nonce, signature)` verifies the ed25519 signature of exactly that message
   by the wallet's public key (base58, as wallets and solders print it, or base64), consumes the
   nonce whatever the outcome, and on success returns the plaintext once: the encrypted copy is
   erased and `collected_at` recorded in the same unit of work.

The plaintext never reaches a log line, an audit row or any other response."""

from __future__ import annotations

import base64
import binascii
import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

import base58
from solders.pubkey import Pubkey
from solders.signature import Signature
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from arenabrain.context import Context
from arenabrain.credits.keystore import KeyStoreError, keystore_for
from arenabrain.credits.models import LIVE_KEY_STATUSES, KeyClaimNonce, UserKey
from arenabrain.credits.wallets import wallet_problem
from arenabrain.db.ids import new_id
from arenabrain.db.timestamps import to_text
from arenabrain.errors import AppError, Conflict, NotFound
from arenabrain.logging import get_logger

CHALLENGE_TTL = timedelta(minutes=5)
SERVICE_NAME = "arenabrain"
NONCE_BYTES = 24

log = get_logger()


class InvalidClaim(AppError):
    status_code = 400


class SignatureRejected(AppError):
    status_code = 401


@dataclass(frozen=True)
class Challenge:
    nonce: str
    message: str
    expires_at: datetime


@dataclass(frozen=True)
class CollectedKey:
    wallet: str
    key: str  # the plaintext, shown this once
    key_hash: str
    limit_usd_cents: int
    limit_reset: str | None
    expires_at: datetime | None


# --- pure -------------------------------------------------------------------------------------


def nonce_digest(nonce: str) -> str:
    return hashlib.sha256(nonce.encode()).hexdigest()


def challenge_message(wallet: str, key_name: str, nonce: str, expires_at: datetime) -> str:
    """The exact text the holder signs (UTF-8 bytes)."""
    expires = to_text(expires_at, fraction=False).replace(" ", "T") + "Z"
    return (
        f"{SERVICE_NAME} asks you to sign in to collect your OpenRouter API key.\n"
        f"\n"
        f"Wallet: {wallet}\n"
        f"Key: {key_name}\n"
        f"Nonce: {nonce}\n"
        f"Expires: {expires}\n"
        f"\n"
        f"Signing proves you own this wallet. It moves no funds and approves no transaction."
    )


def decode_signature(text: str) -> Signature | None:
    """A 64-byte ed25519 signature given as base58 or base64, or None."""
    text = text.strip()
    raw: bytes | None = None
    try:
        raw = base58.b58decode(text)
    except ValueError:
        raw = None
    if raw is None or len(raw) != 64:
        try:
            raw = base64.b64decode(text, validate=True)
        except (binascii.Error, ValueError):
            return None
    if len(raw) != 64:
        return None
    return Signature.from_bytes(raw)


def signature_verifies(wallet: str, message: str, signature: str) -> bool:
    decoded = decode_signature(signature)
    if decoded is None:
        return False
    return bool(decoded.verify(Pubkey.from_string(wallet), message.encode()))


def _checked_wallet(wallet: str) -> str:
    problem = wallet_problem(wallet)
    if problem:
        raise InvalidClaim(f"wallet: {problem}")
    return wallet


# --- use cases --------------------------------------------------------------------------------


async def _collectable_key(session: AsyncSession, wallet: str) -> UserKey | None:
    found: UserKey | None = await session.scalar(
        select(UserKey)
        .where(
            UserKey.holder_wallet == wallet,
            UserKey.status.in_(LIVE_KEY_STATUSES),
            UserKey.encrypted_key.is_not(None),
        )
        .order_by(UserKey.created_at.desc(), UserKey.key_id.desc())
        .limit(1)
    )
    return found


async def issue_challenge(ctx: Context, wallet: str) -> Challenge:
    """A one-time nonce, and the message the wallet must sign, to collect its key."""
    wallet = _checked_wallet(wallet)
    now = ctx.clock.now()
    nonce = secrets.token_urlsafe(NONCE_BYTES)
    expires_at = now + CHALLENGE_TTL
    async with ctx.db.write() as session:
        key = await _collectable_key(session, wallet)
        if key is None:
            raise NotFound("No key is waiting for collection for this wallet")
        session.add(
            KeyClaimNonce(
                id=new_id(now),
                key_id=key.key_id,
                wallet=wallet,
                nonce=nonce_digest(nonce),
                created_at=now,
                expires_at=expires_at,
            )
        )
        message = challenge_message(wallet, key.key_name, nonce, expires_at)
    return Challenge(nonce=nonce, message=message, expires_at=expires_at)


async def collect_key(ctx: Context, wallet: str, nonce: str, signature: str) -> CollectedKey:
    """Verify the signed challenge and hand over the key's plaintext, once."""
    wallet = _checked_wallet(wallet)
    store = keystore_for(ctx.settings)
    if store is None:
        raise AppError("Key collection is not configured (KEY_ENCRYPTION_KEY is unset)", 503)
    now = ctx.clock.now()
    failure: AppError | None = None
    collected: CollectedKey | None = None
    async with ctx.db.write() as session:
        row = await session.scalar(
            select(KeyClaimNonce).where(KeyClaimNonce.nonce == nonce_digest(nonce))
        )
        if row is None:
            raise InvalidClaim("Unknown nonce; request a new challenge")
        if row.used_at is not None:
            raise Conflict("This nonce was already used; request a new challenge")
        row.used_at = now  # consumed whatever happens next
        key = await session.get(UserKey, row.key_id)
        if row.wallet != wallet:
            failure = SignatureRejected("This nonce was issued to another wallet")
        elif row.expires_at <= now:
            failure = InvalidClaim("The challenge expired; request a new one")
        elif key is None:
            failure = NotFound("The key of this challenge no longer exists")
        elif not signature_verifies(
            wallet, challenge_message(wallet, key.key_name, nonce, row.expires_at), signature
        ):
            failure = SignatureRejected(
                "The signature does not verify for this wallet and challenge message"
            )
        elif key.status not in LIVE_KEY_STATUSES or key.encrypted_key is None:
            failure = Conflict("This key was already collected or is no longer active")
        else:
            try:
                plaintext = store.decrypt(key.encrypted_key, key.openrouter_key_hash)
            except KeyStoreError:
                failure = AppError("The stored key cannot be decrypted; contact the operator", 500)
            else:
                key.encrypted_key = None
                key.collected_at = now
                key.updated_at = now
                collected = CollectedKey(
                    wallet=wallet,
                    key=plaintext,
                    key_hash=key.openrouter_key_hash,
                    limit_usd_cents=key.limit_usd_cents,
                    limit_reset=key.limit_reset,
                    expires_at=key.expires_at,
                )
    if failure is not None:
        log.info("Key collection refused", wallet=wallet, reason=failure.message)
        raise failure
    assert collected is not None
    log.info("Key collected", wallet=wallet, keyHash=collected.key_hash)
    return collected
