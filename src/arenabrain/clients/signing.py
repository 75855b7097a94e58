"""Signs Bags claim and swap transactions with SIGNER_PRIVATE_KEY, keeping everything else.

Bags pre-signs some claim transactions (its own key is a required signer), so we only fill our
own signature slot: the message, its blockhash and the other signatures stay byte-for-byte as
received (a new blockhash would invalidate Bags' signature). Claims are legacy transactions and
swaps are v0; each path also accepts the other version, because Bags' docs and SDK disagree on
the claim's. A transaction that would still lack a valid signature after ours is refused here,
before it costs a round trip to the RPC."""

from __future__ import annotations

import base64

import base58
from solders.keypair import Keypair
from solders.message import to_bytes_versioned
from solders.pubkey import Pubkey
from solders.signature import Signature
from solders.transaction import Legacy, Transaction, VersionedTransaction


class SigningError(ValueError):
    """The transaction cannot be signed by us as received (bad encoding, not our slot, ...)."""


class Signer:
    """The service's Solana key, implementing `SignerPort`."""

    def __init__(self, keypair: Keypair) -> None:
        self._keypair = keypair

    def __repr__(self) -> str:  # the secret key must never reach a log line
        return f"Signer(public_key={self.public_key!r})"

    @property
    def public_key(self) -> str:
        return str(self._keypair.pubkey())

    def sign_claim(self, tx_base58: str) -> tuple[bytes, str]:
        """Partially sign a base58 legacy claim transaction; (wire bytes, our signature)."""
        raw = _decode(tx_base58, allow_base64=False)
        if _version(raw) != "legacy":
            return self._sign_versioned(raw)
        try:
            tx = Transaction.from_bytes(raw)
        except Exception:  # solders raises its own exception types
            raise SigningError("claim transaction is not a valid legacy transaction") from None
        index = self._slot(list(tx.message.account_keys), tx.message.header.num_required_signatures)
        tx.partial_sign([self._keypair], tx.message.recent_blockhash)
        _check_complete(tx.verify_with_results(), list(tx.message.account_keys))
        return bytes(tx), str(tx.signatures[index])

    def sign_swap(self, tx_base58: str) -> tuple[bytes, str]:
        """Sign a base58 v0 swap transaction (base64 accepted too); (wire bytes, our signature)."""
        raw = _decode(tx_base58, allow_base64=True)
        return self._sign_versioned(raw)

    def _sign_versioned(self, raw: bytes) -> tuple[bytes, str]:
        try:
            tx = VersionedTransaction.from_bytes(raw)
        except Exception:
            raise SigningError("transaction is not a valid versioned transaction") from None
        message = tx.message
        keys = list(message.account_keys)
        index = self._slot(keys, message.header.num_required_signatures)
        signature = self._keypair.sign_message(to_bytes_versioned(message))
        signatures: list[Signature] = list(tx.signatures)
        signatures[index] = signature
        signed = VersionedTransaction.populate(message, signatures)
        _check_complete(signed.verify_with_results(), keys)
        return bytes(signed), str(signature)

    def _slot(self, keys: list[Pubkey], required: int) -> int:
        mine = self._keypair.pubkey()
        if mine not in keys[:required]:
            raise SigningError(f"{mine} is not a required signer of this transaction")
        return keys.index(mine)


def _decode(text: str, *, allow_base64: bool) -> bytes:
    try:
        raw = base58.b58decode(text.strip())
        VersionedTransaction.from_bytes(raw)
        return raw
    except Exception:
        if not allow_base64:
            raise SigningError("transaction is not base58") from None
    # Bags' skill docs show base64 swaps; the SDK says base58. Accept either.
    try:
        raw = base64.b64decode(text.strip(), validate=True)
        VersionedTransaction.from_bytes(raw)
        return raw
    except Exception:  # binascii.Error, or solders' own parse errors
        raise SigningError("transaction is neither base58 nor base64") from None


def _version(raw: bytes) -> str:
    version = VersionedTransaction.from_bytes(raw).version()
    return "legacy" if version == Legacy.Legacy else f"v{version}"


def _check_complete(results: list[bool], keys: list[Pubkey]) -> None:
    missing = [str(keys[i]) for i, ok in enumerate(results) if not ok]
    if missing:
        raise SigningError(f"still missing valid signatures of {', '.join(missing)}")
