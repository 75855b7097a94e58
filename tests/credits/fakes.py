"""Small in-memory fakes of the CreditBrain ports, sharing one little "chain".

Each fake counts its calls, can fail an operation before it happens (`fail_next`), can lose
the answer of an operation whose effect happened (`lose`: a timeout or 5xx after the fact), and
can crash right after an operation's side effect happened (`crash_after`), which simulates the
process dying between an external side effect and our record of it. `Crash` is a
BaseException, so it passes through the runner's error handling like a real process death.

The chain is no kinder than Solana: a second send of a landed transaction is refused in
preflight as "already processed" (checked after the blockhash, which may have expired by then),
and what a transaction moved is measured from that landed transaction alone: lamports for a
claim (`lamports_received`), USDC for a swap (`token_received`, the USDC balances of the
accounts it touched before and after it, as a node's meta token balances)."""

from __future__ import annotations

import hashlib
import itertools
from collections import Counter
from collections.abc import Collection
from dataclasses import dataclass, field, replace
from datetime import datetime
from decimal import Decimal
from typing import Any

from solders.keypair import Keypair

from arenabrain.clients.bags import ClaimablePosition, ClaimTransaction, SwapQuote, SwapTransaction
from arenabrain.clients.errors import UpstreamError
from arenabrain.clients.helius import TokenAccount
from arenabrain.clients.openrouter.keys import CreatedKey, Credits, OpenRouterKey
from arenabrain.clients.solana import USDC_MINT, RpcError, SignatureStatus


class Crash(BaseException):
    """The process died right after a side effect."""


def holder_keypair(n: int) -> Keypair:
    """The keypair of `wallet(n)`: its holder can sign a key collection challenge."""
    return Keypair.from_seed(bytes([n % 256]) * 31 + bytes([n // 256]))


def wallet(n: int) -> str:
    """A deterministic on-curve wallet (a real ed25519 public key)."""
    return str(holder_keypair(n).pubkey())


OWNER = wallet(200)
MINT = wallet(201)  # the distribution token (any valid base58 key will do)
FEE_MINT_A = wallet(202)
FEE_MINT_B = wallet(203)


class Faults:
    def __init__(self) -> None:
        self.calls: Counter[str] = Counter()
        self.fail_next: dict[str, list[BaseException]] = {}
        self.crash_after: Counter[str] = Counter()
        self.crash_on: dict[str, set[int]] = {}
        self.lost: dict[str, list[BaseException]] = {}
        self.lost_on: dict[str, dict[int, BaseException]] = {}
        self.fail_on: dict[str, dict[int, BaseException]] = {}

    def enter(self, op: str) -> None:
        self.calls[op] += 1
        if self.calls[op] in self.fail_on.get(op, {}):
            raise self.fail_on[op].pop(self.calls[op])
        queue = self.fail_next.get(op)
        if queue:
            raise queue.pop(0)

    def leave(self, op: str) -> None:
        lost = self.lost.get(op)
        if lost:
            raise lost.pop(0)
        if self.calls[op] in self.lost_on.get(op, {}):
            raise self.lost_on[op].pop(self.calls[op])
        if self.crash_after[op] > 0:
            self.crash_after[op] -= 1
            raise Crash(op)
        if self.calls[op] in self.crash_on.get(op, set()):
            self.crash_on[op].discard(self.calls[op])
            raise Crash(f"{op} #{self.calls[op]}")

    def fail(self, op: str, *errors: BaseException) -> None:
        self.fail_next.setdefault(op, []).extend(errors)

    def fail_at(self, op: str, call: int, error: BaseException) -> None:
        """The `call`-th call (1-based) of `op` fails with `error` before it has any effect."""
        self.fail_on.setdefault(op, {})[call] = error

    def lose(self, op: str, *errors: BaseException) -> None:
        """The next calls of `op` take effect, then fail with these errors (answer lost)."""
        self.lost.setdefault(op, []).extend(errors)

    def lose_at(self, op: str, call: int, error: BaseException) -> None:
        """The `call`-th call (1-based) of `op` takes effect, then fails with `error`."""
        self.lost_on.setdefault(op, {})[call] = error

    def crash(self, op: str, times: int = 1) -> None:
        self.crash_after[op] += times

    def crash_at(self, op: str, call: int) -> None:
        """Crash right after the `call`-th call (1-based) of `op` has had its effect."""
        self.crash_on.setdefault(op, set()).add(call)


def transient(upstream: str, message: str = "503 Service Unavailable") -> UpstreamError:
    return UpstreamError(upstream, message, status=503, transient=True)


def timed_out(upstream: str, what: str = "request") -> UpstreamError:
    return UpstreamError(upstream, f"{what} timed out", transient=True)


def preflight(reason: str, err: Any) -> RpcError:
    """The node's refusal of a send, as the Solana client raises it."""
    return RpcError(
        "solana",
        -32002,
        f"Transaction simulation failed: {reason}",
        {"err": err, "logs": [], "accounts": None, "unitsConsumed": 0, "returnData": None},
    )


@dataclass
class Chain:
    """Landed signatures, balances and the block height of a tiny pretend Solana."""

    height: int = 1000
    statuses: dict[str, str] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)
    usdc: Counter[str] = field(default_factory=Counter)
    # tx text -> callable on landing: returns {account: lamports moved}, or an error text
    # when the program refuses (the transaction lands failed)
    effects: dict[str, Any] = field(default_factory=dict)
    land_as: dict[str, str] = field(default_factory=dict)  # tx text -> forced outcome
    valid_until: dict[str, int] = field(default_factory=dict)  # tx text -> last valid height
    received: dict[str, Counter[str]] = field(default_factory=dict)  # signature -> moved
    usdc_moved: dict[str, Counter[str]] = field(default_factory=dict)  # signature -> moved


class FakeSigner:
    def __init__(self, public_key: str = OWNER) -> None:
        self._public_key = public_key
        self.faults = Faults()

    @property
    def public_key(self) -> str:
        return self._public_key

    def sign_claim(self, tx_base58: str) -> tuple[bytes, str]:
        self.faults.enter("sign_claim")
        return tx_base58.encode(), f"sig-{tx_base58}"

    def sign_swap(self, tx_base58: str) -> tuple[bytes, str]:
        self.faults.enter("sign_swap")
        return tx_base58.encode(), f"sig-{tx_base58}"


class FakeSolana:
    def __init__(self, chain: Chain) -> None:
        self.chain = chain
        self.faults = Faults()
        self.sent: list[str] = []

    async def latest_blockhash(self) -> tuple[str, int]:
        return "blockhash", self.chain.height + 150

    async def block_height(self) -> int:
        self.faults.enter("block_height")
        return self.chain.height

    async def send_transaction(self, wire: bytes) -> str:
        self.faults.enter("send_transaction")
        tx = wire.decode()
        signature = f"sig-{tx}"
        self.sent.append(signature)
        if self.chain.height > self.chain.valid_until.get(tx, self.chain.height):
            raise preflight("Blockhash not found", "BlockhashNotFound")
        if signature in self.chain.statuses:  # landed before: refused, and nothing moves
            raise preflight("This transaction has already been processed", "AlreadyProcessed")
        outcome = self.chain.land_as.get(tx, "confirmed")
        error = "InstructionError"
        if outcome == "confirmed":
            effect = self.chain.effects.get(tx)
            usdc_before = Counter(self.chain.usdc)
            moved = effect() if effect is not None else {}
            if isinstance(moved, str):
                outcome, error = "failed", moved
            else:
                self.chain.received[signature] = Counter(moved)
                usdc_after = Counter(self.chain.usdc)
                self.chain.usdc_moved[signature] = Counter(
                    {o: usdc_after[o] - usdc_before[o] for o in {*usdc_after, *usdc_before}}
                )
        if outcome != "never":
            self.chain.statuses[signature] = outcome
            if outcome == "failed":
                self.chain.errors[signature] = error
        self.faults.leave("send_transaction")
        return signature

    async def signature_statuses(self, signatures: list[str]) -> list[SignatureStatus]:
        self.faults.enter("signature_statuses")
        return [self._status(s) for s in signatures]

    async def confirm(self, signature: str, last_valid_block_height: int) -> SignatureStatus:
        self.faults.enter("confirm")
        status = self._status(signature)
        if status.state == "unknown":
            # Waiting for it: the chain moves past its last valid block height.
            self.chain.height = max(self.chain.height, last_valid_block_height + 1)
            return SignatureStatus(signature, "unknown", "expired: block height exceeded")
        return status

    async def lamports_received(self, signature: str, account: str) -> int:
        self.faults.enter("lamports_received")
        if self.chain.statuses.get(signature, "unknown") == "unknown":
            raise UpstreamError(
                "solana", f"getTransaction found no landed transaction {signature}", transient=True
            )
        return self.chain.received.get(signature, Counter())[account]

    async def token_received(self, signature: str, owner: str, mint: str) -> int:
        self.faults.enter("token_received")
        if self.chain.statuses.get(signature, "unknown") == "unknown":
            raise UpstreamError(
                "solana", f"getTransaction found no landed transaction {signature}", transient=True
            )
        assert mint == USDC_MINT
        return self.chain.usdc_moved.get(signature, Counter())[owner]

    async def balance_lamports(self, owner: str) -> int:
        return 10**9

    def _status(self, signature: str) -> SignatureStatus:
        state = self.chain.statuses.get(signature, "unknown")
        return SignatureStatus(signature, state, self.chain.errors.get(signature))  # type: ignore[arg-type]


class FakeBags:
    """Claimable positions released part by part as their claim transactions land, and
    SOL→USDC quotes at a fixed price whose swaps deliver a little less than quoted.

    `claimable` holds one pool position per mint; `fee_vaults` a custom fee vault position per
    mint, which may share its mint with a pool position. Like `claim-txs/v3`, a claim request
    for a mint answers the transactions of every position of that mint."""

    def __init__(self, chain: Chain, owner: str = OWNER) -> None:
        self.chain = chain
        self.owner = owner
        self.faults = Faults()
        self.claimable: dict[str, int] = {}  # mint -> lamports (pool positions)
        self.fee_vaults: dict[str, int] = {}  # mint -> lamports (fee-share V2 positions)
        self.txs_per_position = 1
        self.usdc_per_sol = Decimal(150)
        self.delivered_ratio = Decimal("0.995")  # what the swap really delivers vs the quote
        self.price_impact = Decimal("0.02")
        self.empty_mints: set[str] = set()
        self._serial = itertools.count(1)

    async def claimable_positions(self, wallet: str) -> list[ClaimablePosition]:
        self.faults.enter("claimable_positions")
        assert wallet == self.owner
        pools = [
            ClaimablePosition(base_mint=m, kind="standard", claimable_lamports=v)
            for m, v in sorted(self.claimable.items())
        ]
        vaults = [
            ClaimablePosition(base_mint=m, kind="fee_share_v2", claimable_lamports=v)
            for m, v in sorted(self.fee_vaults.items())
        ]
        return pools + vaults

    async def claim_transactions(self, fee_claimer: str, token_mint: str) -> list[ClaimTransaction]:
        self.faults.enter("claim_transactions")
        if token_mint in self.empty_mints:
            return []
        batch = next(self._serial)
        txs = []
        for book in (self.claimable, self.fee_vaults):
            total = book.get(token_mint, 0)
            count = self.txs_per_position
            parts = [total // count + (1 if i < total % count else 0) for i in range(count)]
            for part in parts if total > 0 else []:
                text = f"claim-{token_mint[:6]}-{batch}-{len(txs)}"
                self.chain.effects[text] = self._release(book, token_mint, part)
                self.chain.valid_until[text] = self.chain.height + 150
                txs.append(ClaimTransaction(text, "blockhash", self.chain.height + 150))
        return txs

    def _release(self, book: dict[str, int], mint: str, lamports: int) -> Any:
        def land() -> dict[str, int] | str:
            if book.get(mint, 0) < lamports:
                return "InstructionError: custom program error 6004 (nothing to claim)"
            book[mint] -= lamports
            return {self.owner: lamports}

        return land

    async def trade_quote(
        self, input_mint: str, output_mint: str, amount: int, slippage_bps: int
    ) -> SwapQuote:
        self.faults.enter("trade_quote")
        out = int(Decimal(amount) * self.usdc_per_sol / 1000)  # lamports -> USDC base units
        return SwapQuote(
            request_id=f"q{next(self._serial)}",
            in_amount=amount,
            out_amount=out,
            min_out_amount=out * (10000 - slippage_bps) // 10000,
            price_impact_pct=self.price_impact,
            slippage_bps=slippage_bps,
        )

    async def swap_transaction(self, quote: SwapQuote, user_public_key: str) -> SwapTransaction:
        self.faults.enter("swap_transaction")
        assert user_public_key == self.owner
        text = f"swap-{quote.request_id}"
        delivered = int(quote.out_amount * self.delivered_ratio)

        def land() -> dict[str, int]:
            self.chain.usdc[user_public_key] += delivered
            return {user_public_key: -quote.in_amount}

        self.chain.effects[text] = land
        self.chain.valid_until[text] = self.chain.height + 150
        return SwapTransaction(text, self.chain.height + 150)


class FakeHolders:
    def __init__(self) -> None:
        self.faults = Faults()
        self.accounts: list[TokenAccount] = []

    def hold(self, owner: str, amount: int) -> None:
        self.accounts.append(TokenAccount(f"acct{len(self.accounts)}", owner, amount))

    async def token_accounts(self, mint: str) -> list[TokenAccount]:
        self.faults.enter("token_accounts")
        return list(self.accounts)

    async def mint_decimals(self, mint: str) -> int:
        return 6


@dataclass
class KeyState:
    hash: str
    name: str
    limit: Decimal | None
    limit_reset: str | None
    expires_at: datetime | None
    disabled: bool = False
    usage: Decimal = Decimal(0)
    usage_window: Decimal = Decimal(0)
    plaintext: str = ""


class FakeKeys:
    """An OpenRouter account: credits and keys with limits, usage and resets."""

    def __init__(self, credits: Decimal = Decimal(1000), usage: Decimal = Decimal(0)) -> None:
        self.faults = Faults()
        self.total_credits = credits
        self.total_usage = usage
        self.keys: dict[str, KeyState] = {}
        self.deleted: list[str] = []
        self._serial = itertools.count(1)

    def view(self, state: KeyState) -> OpenRouterKey:
        used = state.usage_window if state.limit_reset else state.usage
        remaining = None if state.limit is None else max(Decimal(0), state.limit - used)
        window = {"daily": Decimal(0), "weekly": Decimal(0), "monthly": Decimal(0)}
        if state.limit_reset:
            window[state.limit_reset] = state.usage_window
        return OpenRouterKey(
            hash=state.hash,
            name=state.name,
            disabled=state.disabled,
            limit=state.limit,
            limit_remaining=remaining,
            limit_reset=state.limit_reset,
            usage=state.usage,
            usage_daily=window["daily"],
            usage_weekly=window["weekly"],
            usage_monthly=window["monthly"],
            created_at=None,
            updated_at=None,
            expires_at=state.expires_at,
        )

    async def create_key(
        self, name: str, limit: Decimal, limit_reset: str | None, expires_at: datetime | None
    ) -> CreatedKey:
        self.faults.enter("create_key")
        serial = next(self._serial)
        key_hash = hashlib.sha256(f"{name}:{serial}".encode()).hexdigest()
        plaintext = f"sk-or-v1-{key_hash[:32]}"
        state = KeyState(
            key_hash, name, Decimal(limit), limit_reset, expires_at, plaintext=plaintext
        )
        self.keys[key_hash] = state
        self.faults.leave("create_key")
        return CreatedKey(self.view(state), plaintext)

    async def list_keys(self, *, until_found: Collection[str] = ()) -> list[OpenRouterKey]:
        self.faults.enter("list_keys")
        listed = [self.view(k) for k in self.keys.values()]
        self.faults.leave("list_keys")
        return listed

    async def get_key(self, key_hash: str) -> OpenRouterKey | None:
        self.faults.enter("get_key")
        state = self.keys.get(key_hash)
        self.faults.leave("get_key")
        return None if state is None else self.view(state)

    async def update_key(self, key_hash: str, **changes: Any) -> OpenRouterKey:
        self.faults.enter("update_key")
        state = self.keys.get(key_hash)
        if state is None:
            raise UpstreamError("openrouter", "PATCH keys answered 404: Key not found", status=404)
        if "limit" in changes:
            state.limit = Decimal(str(changes["limit"]))
        if "disabled" in changes:
            state.disabled = bool(changes["disabled"])
        self.faults.leave("update_key")
        return self.view(state)

    async def delete_key(self, key_hash: str) -> bool:
        self.faults.enter("delete_key")
        self.deleted.append(key_hash)
        existed = self.keys.pop(key_hash, None) is not None
        self.faults.leave("delete_key")
        return existed

    async def credits(self) -> Credits:
        self.faults.enter("credits")
        return Credits(self.total_credits, self.total_usage)

    def spend(self, key_hash: str, amount: Decimal) -> None:
        state = self.keys[key_hash]
        state.usage += amount
        state.usage_window += amount
        self.total_usage += amount

    def live(self) -> list[KeyState]:
        return [k for k in self.keys.values() if not k.disabled]


@dataclass
class FakeClients:
    bags: FakeBags
    solana: FakeSolana
    holders: FakeHolders
    keys: FakeKeys
    signer: FakeSigner | None


class World:
    """Everything a pipeline run touches outside the database."""

    def __init__(self, owner: str = OWNER) -> None:
        self.chain = Chain()
        self.bags = FakeBags(self.chain, owner)
        self.solana = FakeSolana(self.chain)
        self.holders = FakeHolders()
        self.keys = FakeKeys()
        self.signer: FakeSigner | None = FakeSigner(owner)
        self.clients = FakeClients(self.bags, self.solana, self.holders, self.keys, self.signer)

    def without_signer(self) -> None:
        self.signer = None
        self.clients = replace(self.clients, signer=None)

    def mutations(self) -> dict[str, int]:
        """Every externally visible mutation the fakes saw."""
        return {
            "sign_claim": self.signer.faults.calls["sign_claim"] if self.signer else 0,
            "sign_swap": self.signer.faults.calls["sign_swap"] if self.signer else 0,
            "send_transaction": self.solana.faults.calls["send_transaction"],
            "create_key": self.keys.faults.calls["create_key"],
            "update_key": self.keys.faults.calls["update_key"],
            "delete_key": self.keys.faults.calls["delete_key"],
        }
