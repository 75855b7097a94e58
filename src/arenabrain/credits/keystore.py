"""Holder keys at rest: AES-256-GCM under a key derived from KEY_ENCRYPTION_KEY with HKDF.

OpenRouter shows a key's plaintext only once, in the create response. It is encrypted before
it is stored (`user_keys.encrypted_key`) until the holder collects it; only OpenRouter's hash
identifies the key otherwise. The key hash is bound as associated data, so a ciphertext copied
onto another row does not decrypt. The plaintext is never logged."""

from __future__ import annotations

import base64
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from arenabrain.settings import Settings

VERSION = "v1"
_SALT = b"arenabrain/credits/keystore"
_INFO = b"user_keys.encrypted_key v1 aes-256-gcm"


class KeyStoreError(Exception):
    pass


class KeyStore:
    def __init__(self, secret: str) -> None:
        if not secret:
            raise KeyStoreError("KEY_ENCRYPTION_KEY is empty")
        derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=_SALT, info=_INFO).derive(
            secret.encode()
        )
        self._aead = AESGCM(derived)

    def encrypt(self, plaintext: str, key_hash: str) -> str:
        """`v1.<base64url(nonce || ciphertext)>`, bound to the key's hash."""
        nonce = os.urandom(12)
        sealed = self._aead.encrypt(nonce, plaintext.encode(), key_hash.encode())
        return f"{VERSION}.{base64.urlsafe_b64encode(nonce + sealed).decode()}"

    def decrypt(self, token: str, key_hash: str) -> str:
        version, _, body = token.partition(".")
        if version != VERSION or not body:
            raise KeyStoreError("unknown encrypted key format")
        try:
            raw = base64.urlsafe_b64decode(body.encode())
            return self._aead.decrypt(raw[:12], raw[12:], key_hash.encode()).decode()
        except (InvalidTag, ValueError) as exc:
            raise KeyStoreError(
                "encrypted key does not decrypt (wrong KEY_ENCRYPTION_KEY or tampered row)"
            ) from exc


def keystore_for(settings: Settings) -> KeyStore | None:
    """The keystore of the configured KEY_ENCRYPTION_KEY, or None when it is unset."""
    if settings.key_encryption_key is None:
        return None
    return KeyStore(settings.key_encryption_key.get_secret_value())
