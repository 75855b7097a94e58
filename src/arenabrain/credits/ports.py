"""What the CreditBrain pipeline needs from the outside world, as plain types and protocols.

The clients in `arenabrain.clients` implement these against the real upstreams (and so against
the sandbox emulators); the phases depend only on this module. Amounts are integers in base
units (lamports, USDC micro-units) or Decimal USD; wallets are case-sensitive base58 strings."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any, Literal, Protocol

WSOL_MINT = "So11111111111111111111111111111111111111112"
USDC_MINT = "EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v"
BURN_ADDRESS = "1nc1nerator11111111111111111111111111111111"
LAMPORTS_PER_SOL = 1_000_000_000
USDC_DECIMALS = 6


class UpstreamError(Exception):
    """An upstream call failed. `transient` errors (429, 5xx, timeouts) may be retried."""

    def __init__(
        self, upstream: str, message: str, *, status: int | None = None, transient: bool = False
    ) -> None:
        super().__init__(f"{upstream}: {message}")
        self.upstream = upstream
        self.status = status
        self.transient = transient


# --- Bags ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class ClaimablePosition:
    """One claimable fee position of the owner wallet (any of the three kinds)."""

    base_mint: str
    kind: Literal["standard", "fee_share_v1", "fee_share_v2"]
    claimable_lamports: int  # the user's share, already summed per position
    virtual_pool: str | None = None
    raw: dict[str, Any] = field(default_factory=dict, compare=False)


@dataclass(frozen=True)
class ClaimTransaction:
    """A base58 legacy transaction from `claim-txs/v3`, possibly pre-signed by Bags."""

    tx_base58: str
    blockhash: str
    last_valid_block_height: int


@dataclass(frozen=True)
class SwapQuote:
    request_id: str
    in_amount: int  # lamports
    out_amount: int  # USDC base units (quoted; the swap phase records what its transaction moved)
    min_out_amount: int
    price_impact_pct: Decimal
    slippage_bps: int
    raw: dict[str, Any] = field(default_factory=dict, compare=False)


@dataclass(frozen=True)
class SwapTransaction:
    """A base58 versioned (v0) transaction from `POST /trade/swap`; we are the only signer."""

    tx_base58: str
    last_valid_block_height: int


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


SignatureState = Literal["unknown", "processed", "confirmed", "finalized", "failed"]
# Node is behind / block not available / slot skipped: retrying later can succeed.
TRANSIENT_RPC_CODES = frozenset({-32004, -32005, -32007, -32014, -32016})
PREFLIGHT_FAILURE = -32002  # "Transaction simulation failed: ..."


class RpcError(UpstreamError):
    """A JSON-RPC error object (`code`, `message`, optional `data`) from the Solana node.

    For `sendTransaction` with preflight, code -32002 is a refusal of this send: a clear
    rejection, except `already_processed` (the transaction landed earlier: it WAS sent)."""

    def __init__(self, upstream: str, code: int, message: str, data: Any = None) -> None:
        transient = code in TRANSIENT_RPC_CODES
        super().__init__(upstream, f"RPC error {code}: {message}", transient=transient)
        self.code = code
        self.rpc_message = message
        self.data = data

    def _text(self) -> str:
        return f"{self.rpc_message} {self.data}".lower()

    @property
    def blockhash_not_found(self) -> bool:
        """Preflight found the blockhash unknown or expired: fetch a fresh transaction."""
        text = self._text()
        return "blockhashnotfound" in text.replace(" ", "") or "blockhash not found" in text

    @property
    def already_processed(self) -> bool:
        """Preflight found this very transaction already landed: the send is not a failure."""
        text = self._text()
        return self.code == PREFLIGHT_FAILURE and (
            "alreadyprocessed" in text.replace(" ", "") or "already been processed" in text
        )


@dataclass(frozen=True)
class SignatureStatus:
    signature: str
    state: SignatureState
    error: str | None = None  # the RPC's `err` rendered as text when the transaction failed


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


@dataclass(frozen=True)
class TokenAccount:
    address: str
    owner: str
    amount: int  # raw base units


class HoldersPort(Protocol):
    async def token_accounts(self, mint: str) -> list[TokenAccount]: ...  # every page until empty

    async def mint_decimals(self, mint: str) -> int: ...


# --- OpenRouter management ----------------------------------------------------------------------


@dataclass(frozen=True)
class OpenRouterKey:
    hash: str
    name: str
    disabled: bool
    limit: Decimal | None
    limit_remaining: Decimal | None
    limit_reset: str | None
    usage: Decimal
    usage_daily: Decimal
    usage_weekly: Decimal
    usage_monthly: Decimal
    created_at: datetime | None
    updated_at: datetime | None
    expires_at: datetime | None
    raw: dict[str, Any] = field(default_factory=dict, compare=False)


@dataclass(frozen=True)
class CreatedKey:
    key: OpenRouterKey
    # Shown by OpenRouter only in the create response; never in a repr, a log line or an error.
    plaintext: str = field(repr=False)


@dataclass(frozen=True)
class Credits:
    total_credits: Decimal
    total_usage: Decimal

    @property
    def balance(self) -> Decimal:
        return self.total_credits - self.total_usage


class KeysPort(Protocol):
    async def create_key(
        self, name: str, limit: Decimal, limit_reset: str | None, expires_at: datetime | None
    ) -> CreatedKey: ...

    async def list_keys(self) -> list[OpenRouterKey]: ...  # every page, disabled included

    async def get_key(self, key_hash: str) -> OpenRouterKey | None: ...  # None when 404

    async def update_key(self, key_hash: str, **changes: Any) -> OpenRouterKey: ...

    async def delete_key(self, key_hash: str) -> bool: ...

    async def credits(self) -> Credits: ...
