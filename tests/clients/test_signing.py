"""Signing Bags transactions: our slot only, Bags' signature and the blockhash untouched."""

from __future__ import annotations

import base64

import base58
import pytest
from solders.hash import Hash
from solders.keypair import Keypair
from solders.message import Message, MessageV0
from solders.null_signer import NullSigner
from solders.signature import Signature
from solders.system_program import TransferParams, transfer
from solders.transaction import Transaction, VersionedTransaction

from arenabrain.clients.signing import Signer, SigningError

BLOCKHASH = Hash.hash(b"slot-42")


@pytest.fixture
def ours() -> Keypair:
    return Keypair.from_seed(bytes(range(32)))


@pytest.fixture
def bags_vault() -> Keypair:
    return Keypair.from_seed(bytes(range(1, 33)))


def claim_tx(claimer: Keypair, vault: Keypair, *, presigned: bool = True) -> Transaction:
    """A Bags-style claim: vault -> claimer, the claimer pays fees, the vault co-signs."""
    ix = transfer(
        TransferParams(from_pubkey=vault.pubkey(), to_pubkey=claimer.pubkey(), lamports=1_000)
    )
    tx = Transaction.new_unsigned(Message.new_with_blockhash([ix], claimer.pubkey(), BLOCKHASH))
    if presigned:
        tx.partial_sign([vault], BLOCKHASH)
    return tx


def swap_tx(user: Keypair, pool: Keypair) -> VersionedTransaction:
    ix = transfer(TransferParams(from_pubkey=user.pubkey(), to_pubkey=pool.pubkey(), lamports=500))
    message = MessageV0.try_compile(user.pubkey(), [ix], [], BLOCKHASH)
    return VersionedTransaction(message, [NullSigner(user.pubkey())])


def b58(tx: Transaction | VersionedTransaction) -> str:
    return base58.b58encode(bytes(tx)).decode()


def test_claim_partial_sign_keeps_bags_signature_and_blockhash(
    ours: Keypair, bags_vault: Keypair
) -> None:
    original = claim_tx(ours, bags_vault)
    bags_signature = original.signatures[1]
    wire, signature = Signer(ours).sign_claim(b58(original))
    signed = Transaction.from_bytes(wire)
    assert signed.message.recent_blockhash == BLOCKHASH
    assert signed.message == original.message
    assert signed.signatures[1] == bags_signature
    assert signed.signatures[0] == Signature.from_string(signature)
    assert signed.verify_with_results() == [True, True]


def test_claim_without_bags_signature_is_refused(ours: Keypair, bags_vault: Keypair) -> None:
    unsigned = claim_tx(ours, bags_vault, presigned=False)
    with pytest.raises(SigningError, match=str(bags_vault.pubkey())):
        Signer(ours).sign_claim(b58(unsigned))


def test_claim_for_another_wallet_is_refused(bags_vault: Keypair) -> None:
    someone = Keypair()
    with pytest.raises(SigningError, match="not a required signer"):
        Signer(Keypair()).sign_claim(b58(claim_tx(someone, bags_vault)))


def test_claim_that_is_not_base58_is_refused(ours: Keypair, bags_vault: Keypair) -> None:
    encoded = base64.b64encode(bytes(claim_tx(ours, bags_vault))).decode() + "+/="
    with pytest.raises(SigningError, match="base58"):
        Signer(ours).sign_claim(encoded)


def test_v0_claim_is_partially_signed_too(ours: Keypair, bags_vault: Keypair) -> None:
    ix = transfer(
        TransferParams(from_pubkey=bags_vault.pubkey(), to_pubkey=ours.pubkey(), lamports=9)
    )
    message = MessageV0.try_compile(ours.pubkey(), [ix], [], BLOCKHASH)
    tx = VersionedTransaction(message, [NullSigner(ours.pubkey()), bags_vault])
    wire, _ = Signer(ours).sign_claim(b58(tx))
    signed = VersionedTransaction.from_bytes(wire)
    assert signed.signatures[1] == tx.signatures[1]
    assert signed.verify_with_results() == [True, True]


def test_swap_is_signed_in_our_slot(ours: Keypair) -> None:
    original = swap_tx(ours, Keypair())
    wire, signature = Signer(ours).sign_swap(b58(original))
    signed = VersionedTransaction.from_bytes(wire)
    assert signed.message == original.message
    assert signed.message.recent_blockhash == BLOCKHASH
    assert str(signed.signatures[0]) == signature
    assert signed.verify_with_results() == [True]


def test_swap_given_as_base64_is_accepted(ours: Keypair) -> None:
    encoded = base64.b64encode(bytes(swap_tx(ours, Keypair()))).decode()
    wire, _ = Signer(ours).sign_swap(encoded)
    assert VersionedTransaction.from_bytes(wire).verify_with_results() == [True]


def test_swap_for_another_user_is_refused(ours: Keypair) -> None:
    with pytest.raises(SigningError, match="not a required signer"):
        Signer(ours).sign_swap(b58(swap_tx(Keypair(), Keypair())))


def test_garbage_is_refused(ours: Keypair) -> None:
    with pytest.raises(SigningError):
        Signer(ours).sign_swap("not a transaction")


def test_repr_shows_only_the_public_key(ours: Keypair) -> None:
    signer = Signer(ours)
    assert repr(signer) == f"Signer(public_key={str(ours.pubkey())!r})"
    assert str(ours) not in repr(signer)
