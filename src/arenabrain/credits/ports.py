"""What the CreditBrain pipeline needs from the outside world, as protocols (its ports).

The clients in `arenabrain.clients` implement these against the real upstreams (and so against
the sandbox emulators) and own the value types the ports speak in; the phases are written
against these protocols, so tests can hand them fakes. Amounts are integers in base units
(lamports, USDC micro-units) or Decimal USD; wallets are case-sensitive base58 strings."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime
from decimal import Decimal
from typing import Any, Protocol

from arenabrain.clients.bags import ClaimablePosition, ClaimTransaction, SwapQuote, SwapTransaction
from arenabrain.clients.helius import TokenAccount
from arenabrain.clients.openrouter.keys import CreatedKey, Credits, OpenRouterKey
from arenabrain.clients.solana import SignatureStatus

# --- Bags ----------------------------------------------------------------------------------


class BagsPort(Protocol):
    async def claimable_positions(self, wallet: str) -> list[ClaimablePosition]: ...

    async def claim_transactions(self, fee_claimer: str, token_mint: str) -> list[ClaimTransaction]:
        """Keyed by mint: the transactions of every claimable position of that token."""
        ...

    async def trade_quote(
        self, input_mint: str, output_mint: str, amount: int, slippage_bps: int
    ) -> SwapQuote: ...

    async def swap_transaction(self, quote: SwapQuote, user_public_key: str) -> SwapTransaction: ...


# --- Solana RPC and signing ----------------------------------------------------------------


class SolanaPort(Protocol):
    """The Solana RPC. After a send whose outcome is not a clear rejection (a timeout, a 5xx,
    or a refusal that follows one), only the signature's status on chain says what happened;
    an `RpcError` with `already_processed` means the transaction landed."""

    async def latest_blockhash(self) -> tuple[str, int]: ...  # (blockhash, last valid block height)

    async def block_height(self) -> int: ...

    async def send_transaction(self, wire: bytes) -> str: ...  # returns the signature (base58)

    async def signature_statuses(self, signatures: list[str]) -> list[SignatureStatus]: ...

    async def confirm(self, signature: str, last_valid_block_height: int) -> SignatureStatus: ...

    async def lamports_received(self, signature: str, account: str) -> int:
        """What a landed transaction moved to `account` (negative when it moved lamports out),
        from its meta's pre/post balances, with the fee added back when `account` paid it.
        Raises a transient UpstreamError while the transaction is not visible."""
        ...

    async def token_received(self, signature: str, owner: str, mint: str) -> int:
        """What a landed transaction moved to `owner`'s token accounts of `mint`, in base units,
        from its meta's pre/post token balances (an account it created held 0 before). It
        counts this transaction only, whatever else moved the owner's balance meanwhile.
        Raises a transient UpstreamError while the transaction is not visible."""
        ...

    async def balance_lamports(self, owner: str) -> int: ...

    # No wallet token balance here on purpose: what a swap produced is read from its own
    # transaction (token_received), never from balances that other runs may move too.


class SignerPort(Protocol):
    """Signs Bags transactions with SIGNER_PRIVATE_KEY; never changes a blockhash."""

    @property
    def public_key(self) -> str: ...

    def sign_claim(self, tx_base58: str) -> tuple[bytes, str]: ...  # (wire bytes, our signature)

    def sign_swap(self, tx_base58: str) -> tuple[bytes, str]: ...


# --- Helius DAS ---------------------------------------------------------------------------------


class HoldersPort(Protocol):
    async def token_accounts(self, mint: str) -> list[TokenAccount]: ...  # every page until empty

    async def mint_decimals(self, mint: str) -> int: ...


# --- OpenRouter management ----------------------------------------------------------------------


class KeysPort(Protocol):
    async def create_key(
        self, name: str, limit: Decimal, limit_reset: str | None, expires_at: datetime | None
    ) -> CreatedKey: ...

    async def list_keys(self, *, until_found: Collection[str] = ()) -> list[OpenRouterKey]:
        """Every page, disabled keys included; or only until every hash of `until_found` was
        seen (a usage sweep needs no more)."""
        ...

    async def get_key(self, key_hash: str) -> OpenRouterKey | None: ...  # None when 404

    async def update_key(self, key_hash: str, **changes: Any) -> OpenRouterKey: ...

    async def delete_key(self, key_hash: str) -> bool: ...

    async def credits(self) -> Credits: ...
