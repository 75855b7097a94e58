"""Holders collect their keys with a wallet signature: once, by the right wallet, over exactly
the challenge message; every refusal is a clear 4xx that changes nothing but the nonce."""

from __future__ import annotations

import base64
import logging
from datetime import timedelta

import pytest
from solders.keypair import Keypair
from sqlalchemy import select

from arenabrain.clock import FrozenClock
from arenabrain.context import Context
from arenabrain.credits import collection
from arenabrain.credits.keystore import keystore_for
from arenabrain.credits.models import KeyClaimNonce, UserKey
from arenabrain.db.ids import new_id
from arenabrain.errors import AppError

PLAINTEXT = "sk-or-v1-holder-secret-0123456789"
HOLDER = Keypair.from_seed(bytes(range(32)))
STRANGER = Keypair.from_seed(bytes(range(1, 33)))


async def give_key(ctx: Context, owner: Keypair = HOLDER, *, key_hash: str = "h-1", **fields):
    store = keystore_for(ctx.settings)
    assert store is not None
    now = ctx.clock.now()
    row = UserKey(
        key_id=new_id(now),
        strategy_id=None,
        holder_wallet=str(owner.pubkey()),
        openrouter_key_hash=key_hash,
        key_name=f"creditbrain-test-{key_hash}",
        encrypted_key=store.encrypt(PLAINTEXT, key_hash),
        limit_usd_cents=2500,
        limit_reset="monthly",
        total_allocated_cents=2500,
        status="ACTIVE",
        created_at=now,
        updated_at=now,
        expires_at=now + timedelta(days=365),
        **fields,
    )
    async with ctx.db.write() as session:
        session.add(row)
    return row


def sign(keypair: Keypair, message: str) -> str:
    return str(keypair.sign_message(message.encode()))


async def stored_key(ctx: Context, key_hash: str = "h-1") -> UserKey:
    async with ctx.db.read() as session:
        row = await session.scalar(select(UserKey).where(UserKey.openrouter_key_hash == key_hash))
    assert row is not None
    return row


async def test_a_good_signature_collects_the_key_once_and_erases_the_stored_copy(
    cctx: Context,
) -> None:
    await give_key(cctx)
    wallet = str(HOLDER.pubkey())
    challenge = await collection.issue_challenge(cctx, wallet)
    assert wallet in challenge.message and "arenabrain" in challenge.message
    assert "Expires: 2026-03-01T00:05:00Z" in challenge.message
    got = await collection.collect_key(
        cctx, wallet, challenge.nonce, sign(HOLDER, challenge.message)
    )
    assert got.key == PLAINTEXT and got.key_hash == "h-1" and got.limit_usd_cents == 2500
    row = await stored_key(cctx)
    assert row.encrypted_key is None and row.collected_at == cctx.clock.now()
    # A second collection has nothing to hand over.
    with pytest.raises(AppError) as again:
        await collection.issue_challenge(cctx, wallet)
    assert again.value.status_code == 404


async def test_the_nonce_is_stored_hashed(cctx: Context) -> None:
    await give_key(cctx)
    challenge = await collection.issue_challenge(cctx, str(HOLDER.pubkey()))
    async with cctx.db.read() as session:
        stored = list(await session.scalars(select(KeyClaimNonce.nonce)))
    assert stored == [collection.nonce_digest(challenge.nonce)]
    assert challenge.nonce not in stored


async def test_a_base64_signature_is_accepted(cctx: Context) -> None:
    await give_key(cctx)
    wallet = str(HOLDER.pubkey())
    challenge = await collection.issue_challenge(cctx, wallet)
    raw = bytes(HOLDER.sign_message(challenge.message.encode()))
    got = await collection.collect_key(
        cctx, wallet, challenge.nonce, base64.b64encode(raw).decode()
    )
    assert got.key == PLAINTEXT


def other_message(message: str) -> str:
    return message.replace("Signing proves", "Signing PROVES")


@pytest.mark.parametrize(
    ("signer", "tamper", "status"),
    [
        (STRANGER, None, 401),  # another wallet's signature
        (HOLDER, other_message, 401),  # the holder's signature over another message
    ],
    ids=["another-wallet", "another-message"],
)
async def test_a_wrong_signature_is_refused_consumes_the_nonce_and_keeps_the_key(
    cctx: Context, signer: Keypair, tamper, status: int
) -> None:
    await give_key(cctx)
    wallet = str(HOLDER.pubkey())
    challenge = await collection.issue_challenge(cctx, wallet)
    signed = tamper(challenge.message) if tamper else challenge.message
    with pytest.raises(AppError) as refused:
        await collection.collect_key(cctx, wallet, challenge.nonce, sign(signer, signed))
    assert refused.value.status_code == status
    assert (await stored_key(cctx)).encrypted_key is not None
    # The nonce of a failed attempt cannot be tried again, even with the right signature.
    with pytest.raises(AppError) as replay:
        await collection.collect_key(cctx, wallet, challenge.nonce, sign(HOLDER, challenge.message))
    assert replay.value.status_code == 409


@pytest.mark.parametrize("signature", ["", "not-a-signature", "A" * 88, "1" * 30])
async def test_an_undecodable_signature_is_refused(cctx: Context, signature: str) -> None:
    await give_key(cctx)
    wallet = str(HOLDER.pubkey())
    challenge = await collection.issue_challenge(cctx, wallet)
    with pytest.raises(AppError) as refused:
        await collection.collect_key(cctx, wallet, challenge.nonce, signature)
    assert refused.value.status_code == 401
    assert (await stored_key(cctx)).encrypted_key is not None


async def test_a_replayed_nonce_is_refused_after_a_successful_collection(cctx: Context) -> None:
    await give_key(cctx)
    await give_key(cctx, key_hash="h-2")  # a second key waiting: the replay must not get it
    wallet = str(HOLDER.pubkey())
    challenge = await collection.issue_challenge(cctx, wallet)
    signature = sign(HOLDER, challenge.message)
    await collection.collect_key(cctx, wallet, challenge.nonce, signature)
    with pytest.raises(AppError) as replay:
        await collection.collect_key(cctx, wallet, challenge.nonce, signature)
    assert replay.value.status_code == 409


async def test_an_expired_challenge_is_refused(cctx: Context, clock: FrozenClock) -> None:
    await give_key(cctx)
    wallet = str(HOLDER.pubkey())
    challenge = await collection.issue_challenge(cctx, wallet)
    clock.advance(seconds=collection.CHALLENGE_TTL.total_seconds())
    with pytest.raises(AppError, match="expired") as refused:
        await collection.collect_key(cctx, wallet, challenge.nonce, sign(HOLDER, challenge.message))
    assert refused.value.status_code == 400
    assert (await stored_key(cctx)).encrypted_key is not None


async def test_a_nonce_presented_by_another_wallet_is_refused(cctx: Context) -> None:
    await give_key(cctx)
    await give_key(cctx, STRANGER, key_hash="h-stranger")
    challenge = await collection.issue_challenge(cctx, str(HOLDER.pubkey()))
    stranger = str(STRANGER.pubkey())
    with pytest.raises(AppError) as refused:
        await collection.collect_key(
            cctx, stranger, challenge.nonce, sign(STRANGER, challenge.message)
        )
    assert refused.value.status_code == 401
    assert (await stored_key(cctx, "h-stranger")).encrypted_key is not None
    assert (await stored_key(cctx)).encrypted_key is not None


async def test_unknown_wallets_and_nonces_are_refused(cctx: Context) -> None:
    with pytest.raises(AppError) as unknown_wallet:
        await collection.issue_challenge(cctx, str(STRANGER.pubkey()))
    assert unknown_wallet.value.status_code == 404
    with pytest.raises(AppError) as bad_wallet:
        await collection.issue_challenge(cctx, "not-a-wallet")
    assert bad_wallet.value.status_code == 400
    with pytest.raises(AppError) as unknown_nonce:
        await collection.collect_key(cctx, str(HOLDER.pubkey()), "no-such-nonce", "x")
    assert unknown_nonce.value.status_code == 400


async def test_a_revoked_key_cannot_be_collected(cctx: Context) -> None:
    await give_key(cctx)
    wallet = str(HOLDER.pubkey())
    challenge = await collection.issue_challenge(cctx, wallet)
    async with cctx.db.write() as session:
        row = await session.scalar(select(UserKey))
        assert row is not None
        row.status = "REVOKED"
    with pytest.raises(AppError) as refused:
        await collection.collect_key(cctx, wallet, challenge.nonce, sign(HOLDER, challenge.message))
    assert refused.value.status_code == 409


async def test_the_plaintext_never_appears_in_a_log_line(
    cctx: Context, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    caplog.set_level(logging.DEBUG)
    await give_key(cctx)
    wallet = str(HOLDER.pubkey())
    challenge = await collection.issue_challenge(cctx, wallet)
    await collection.collect_key(cctx, wallet, challenge.nonce, sign(HOLDER, challenge.message))
    captured = capsys.readouterr()
    assert PLAINTEXT not in caplog.text + captured.out + captured.err


def test_a_created_key_never_shows_its_plaintext_in_a_repr() -> None:
    from decimal import Decimal

    from arenabrain.clients.openrouter.keys import CreatedKey, OpenRouterKey

    zero = Decimal(0)
    key = OpenRouterKey(
        hash="h",
        name="n",
        disabled=False,
        limit=Decimal(1),
        limit_remaining=Decimal(1),
        limit_reset=None,
        usage=zero,
        usage_daily=zero,
        usage_weekly=zero,
        usage_monthly=zero,
        created_at=None,
        updated_at=None,
        expires_at=None,
    )
    created = CreatedKey(key=key, plaintext=PLAINTEXT)
    assert PLAINTEXT not in repr(created) and PLAINTEXT not in str(created)
    assert created.plaintext == PLAINTEXT
