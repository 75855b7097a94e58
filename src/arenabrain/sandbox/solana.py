"""Helius emulator: one JSON-RPC endpoint at the Helius URL serving Solana RPC and DAS.

It is a small ledger, not a stub. `sendTransaction` decodes the wire transaction, verifies every
required signature, checks that the blockhash was issued and has not expired, charges the fee
(5,000 lamports per signature plus the compute-unit price), applies SystemProgram transfers to
simulated lamport balances, and runs the landing hook other emulators registered for that
message (the Bags claim releases the position, the Bags swap credits USDC). Failures answer
like a real node with preflight on: -32003 for a bad signature, -32002 "Transaction simulation
failed: ..." for an unknown blockhash, missing fee funds or an overdrawn transfer, and -32002
"Transaction simulation failed: This transaction has already been processed" (err
`AlreadyProcessed`) for a second send of a transaction that already landed (the blockhash check
comes first, as on a real node: a re-send after expiry says "Blockhash not found" even when the
first send landed). `getTransaction` serves each landed transaction with its meta (`fee`,
`preBalances`, `postBalances`, `preTokenBalances`, `postTokenBalances`, `err`), which is how a
caller measures what a transaction moved. Token balances are listed, as on a real node, for the
transaction's account keys that are token accounts: one the transaction created is absent from
`preTokenBalances`, and a zero amount has `uiAmount` null.

What a sender must take from this: an answer that is lost (a timeout or a 5xx) or a refusal
that follows one says nothing certain about the transaction; the recorded signature's status on
chain decides, and "already processed" means it was sent.

Block height follows the world's clock (2.5 blocks a second) plus `advance_blocks`; a
blockhash is valid for 150 blocks. Status is "confirmed" on landing, "finalized" 32 blocks on.

Requests are recorded as `world.record("helius", <rpc method>, <path>)`, so tests count
`world.calls("helius", "sendTransaction")`.

Faults: `arm_fault` queues a `Fault` (or a named one from `FAULTS`) for the next request of a
method: at stage `BEFORE` the node never sees the request; at stage `AFTER_APPLY` it handles it
fully (a transaction lands) and then the answer is lost, as a client timeout (`"timeout"`) or an
HTTP status (e.g. 502). `SEND_APPLIED_THEN_TIMEOUT` and `SEND_APPLIED_THEN_502` are the lost
answers of a send that landed. `inject_failure` (HTTP statuses before any request) is the same
queue.

Knobs: `set_balance`, `credit_lamports`, `add_token_account`, `credit_token`, `set_mint`,
`seed_holders`, `generate_holders` (log-uniform or Pareto balances), `advance_blocks`,
`expire_blockhashes`, `next_send` ("dropped", "insufficient_funds_for_fee", "landed_failed",
"blockhash_not_found"), `arm_fault` / `clear_faults`, `inject_failure`, and `on_landing` (for
other emulators)."""

from __future__ import annotations

import base64
import hashlib
import math
import random
import struct
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Literal, NoReturn

import base58
import httpx
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from solders.hash import Hash
from solders.keypair import Keypair
from solders.message import MessageV0
from solders.pubkey import Pubkey
from solders.token.associated import get_associated_token_address
from solders.transaction import VersionedTransaction

from arenabrain.clients.solana import USDC_DECIMALS, USDC_MINT
from arenabrain.sandbox.world import World

STATE_KEY = "helius"
GENESIS_HEIGHT = 312_000_000
SLOT_LEAD = 12_000  # slots run ahead of block height (skipped slots)
BLOCKS_PER_SECOND = 2.5
BLOCKHASH_LIFETIME = 150
FINALIZE_AFTER = 32
FEE_PER_SIGNATURE = 5_000
DEFAULT_COMPUTE_UNITS = 200_000
MAX_DAS_LIMIT = 1000
SYSTEM_PROGRAM = "11111111111111111111111111111111"
COMPUTE_BUDGET_PROGRAM = "ComputeBudget111111111111111111111111111111"
MEMO_PROGRAM = "MemoSq4gqABAXKb96qzw9ZbZfnAYqcMR6GTVcpDh8Nn"
TOKEN_PROGRAM = "TokenkegQfeZyiNwAJbNbGKPFXCWuBvf9Ss623VQ5DA"
# Meteora DAMM v2: the pools whose vaults (PDAs, off-curve) hold much of a Bags token.
POOL_PROGRAM = Pubkey.from_string("cpamdpZCGKUy5JxQXB4dcpGPiikHawvSWAd6mEn1sGG")
SEND_OUTCOMES = ("dropped", "insufficient_funds_for_fee", "landed_failed", "blockhash_not_found")
ALREADY_PROCESSED = "This transaction has already been processed"
UNSUPPORTED_VERSION = (
    "Transaction version (0) is not supported by the requesting client. Please try the request "
    'again with the following configuration parameter: "maxSupportedTransactionVersion": 0'
)

# A landing hook sees the world before the transaction's effects are committed; it returns
# None (and does its own bookkeeping) or an on-chain error that makes the transaction fail.
LandingHook = Callable[[World], Any]


class RpcFailure(Exception):
    def __init__(self, code: int, message: str, data: Any = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.data = data


def solana_state(world: World) -> dict[str, Any]:
    if world.solana is None:
        world.solana = {
            "epoch": world.clock.now(),
            "height_offset": 0,
            "balances": {},  # address -> lamports
            "token_accounts": {},  # address -> {"mint", "owner", "amount"}
            "mints": {USDC_MINT: {"decimals": USDC_DECIMALS}},
            "blockhashes": {},  # blockhash -> block height when issued
            "transactions": {},  # signature -> {"landed", "height", "slot", "err"}
            "landing_hooks": {},  # message hash -> LandingHook
            "send_outcomes": [],  # switches consumed by the next sendTransaction calls
            "faults": [],  # armed `Fault`s, each consumed by the next request it matches
            "api_keys": None,  # None: any non-empty api-key is accepted
        }
    return world.solana


# --- chain time ------------------------------------------------------------------------------


def block_height(world: World) -> int:
    state = solana_state(world)
    elapsed = max((world.clock.now() - state["epoch"]).total_seconds(), 0.0)
    return GENESIS_HEIGHT + int(elapsed * BLOCKS_PER_SECOND) + state["height_offset"]


def current_slot(world: World) -> int:
    return block_height(world) + SLOT_LEAD


def advance_blocks(world: World, blocks: int) -> int:
    """Move the chain forward `blocks` blocks; returns the new block height."""
    solana_state(world)["height_offset"] += blocks
    return block_height(world)


def expire_blockhashes(world: World) -> int:
    """Advance past the lifetime of every blockhash issued so far."""
    return advance_blocks(world, BLOCKHASH_LIFETIME + 1)


def latest_blockhash(world: World) -> tuple[str, int]:
    """The blockhash of the current slot (deterministic) and its last valid block height."""
    height = block_height(world)
    digest = hashlib.sha256(f"{world.seed}:slot:{height + SLOT_LEAD}".encode()).digest()
    blockhash = str(Hash(digest))
    solana_state(world)["blockhashes"].setdefault(blockhash, height)
    return blockhash, height + BLOCKHASH_LIFETIME


# --- accounts --------------------------------------------------------------------------------


def balance(world: World, address: str) -> int:
    return int(solana_state(world)["balances"].get(address, 0))


def set_balance(world: World, address: str, lamports: int) -> None:
    solana_state(world)["balances"][address] = lamports


def credit_lamports(world: World, address: str, lamports: int) -> int:
    balances = solana_state(world)["balances"]
    balances[address] = balances.get(address, 0) + lamports
    return int(balances[address])


def set_mint(world: World, mint: str, decimals: int) -> None:
    solana_state(world)["mints"].setdefault(mint, {})["decimals"] = decimals


def add_token_account(
    world: World, owner: str, mint: str, amount: int, *, address: str | None = None
) -> str:
    """A token account of `owner` for `mint` (its ATA unless `address` is given)."""
    accounts = solana_state(world)["token_accounts"]
    if address is None:
        address = str(
            get_associated_token_address(Pubkey.from_string(owner), Pubkey.from_string(mint))
        )
    accounts[address] = {"mint": mint, "owner": owner, "amount": amount}
    return address


def credit_token(world: World, owner: str, mint: str, amount: int) -> str:
    """Add `amount` base units to the owner's associated token account (creating it)."""
    address = str(get_associated_token_address(Pubkey.from_string(owner), Pubkey.from_string(mint)))
    accounts = solana_state(world)["token_accounts"]
    if address in accounts:
        accounts[address]["amount"] += amount
    else:
        add_token_account(world, owner, mint, amount, address=address)
    return address


def token_balance(world: World, owner: str, mint: str) -> int:
    accounts = solana_state(world)["token_accounts"].values()
    return sum(a["amount"] for a in accounts if a["owner"] == owner and a["mint"] == mint)


def seed_holders(
    world: World,
    mint: str,
    holders: Mapping[str, int] | Iterable[tuple[str, int]],
    *,
    decimals: int = 6,
) -> list[str]:
    """One token account per (owner, amount); an owner listed twice gets two accounts."""
    set_mint(world, mint, decimals)
    pairs = holders.items() if isinstance(holders, Mapping) else holders
    addresses = []
    for index, (owner, amount) in enumerate(pairs):
        address = _derived_address(f"{mint}:{owner}:{index}")
        addresses.append(add_token_account(world, owner, mint, amount, address=address))
    return addresses


@dataclass(frozen=True)
class HolderSet:
    """What `generate_holders` made: wallet owners, program (off-curve) owners, and totals."""

    wallets: list[str]
    programs: list[str]
    totals: dict[str, int]  # owner -> sum over its accounts
    zero_balance_accounts: list[str]


Balances = Literal["log-uniform", "pareto"]
PARETO_ALPHA = 1.1  # a long tail: a few whales, many small holders
PARETO_MINIMUM_TOKENS = 1000


def generate_holders(
    world: World,
    mint: str,
    count: int,
    *,
    decimals: int = 6,
    programs: int = 3,
    multi_account_owners: int = 5,
    zero_balance: int = 2,
    balances: Balances = "log-uniform",
    rng: random.Random | None = None,
) -> HolderSet:
    """A realistic holder set from the world's seed: `count` wallets (a few with several
    accounts), some program-owned (off-curve PDA) owners such as pool vaults, and a few
    zero-balance accounts that DAS hides by default.

    `balances`: log-uniform over six orders of magnitude, or Pareto (at least 1,000 tokens,
    a long tail of whales). `rng`: the generator to draw from (default: the world's own, so
    the holders then depend on what else drew from it first)."""
    if balances not in ("log-uniform", "pareto"):
        raise ValueError("balances must be 'log-uniform' or 'pareto'")
    set_mint(world, mint, decimals)
    rng = rng or world.rng
    totals: dict[str, int] = {}
    wallets = [str(Keypair.from_seed(rng.randbytes(32)).pubkey()) for _ in range(count)]
    pdas = [
        str(
            Pubkey.find_program_address(
                [b"vault", bytes(Pubkey.from_string(mint)), bytes([i])], POOL_PROGRAM
            )[0]
        )
        for i in range(programs)
    ]
    for owner in wallets:
        if balances == "pareto":
            tokens = PARETO_MINIMUM_TOKENS * rng.paretovariate(PARETO_ALPHA)
            amount = int(tokens * 10**decimals)
        else:
            amount = int(10 ** (decimals + rng.uniform(0, 6)))
        add_token_account(world, owner, mint, amount)
        totals[owner] = amount
    for index, owner in enumerate(wallets[:multi_account_owners]):
        extra = int(10 ** (decimals + rng.uniform(0, 4)))
        add_token_account(
            world, owner, mint, extra, address=_derived_address(f"{mint}:{owner}:extra{index}")
        )
        totals[owner] += extra
    for owner in pdas:  # pool vaults hold the most
        amount = int(10 ** (decimals + 7 + rng.uniform(0, 1)))
        add_token_account(world, owner, mint, amount, address=_derived_address(f"{owner}:vault"))
        totals[owner] = amount
    zeros = []
    for _ in range(zero_balance):
        owner = str(Keypair.from_seed(rng.randbytes(32)).pubkey())
        zeros.append(add_token_account(world, owner, mint, 0))
    return HolderSet(wallets=wallets, programs=pdas, totals=totals, zero_balance_accounts=zeros)


def _derived_address(label: str) -> str:
    return str(Pubkey(hashlib.sha256(label.encode()).digest()))


# --- switches --------------------------------------------------------------------------------


def next_send(world: World, *outcomes: str) -> None:
    """Make the next sendTransaction calls behave as `outcomes` (one per call, in order)."""
    unknown = [o for o in outcomes if o not in SEND_OUTCOMES]
    if unknown:
        raise ValueError(f"unknown send outcomes {unknown}; use {SEND_OUTCOMES}")
    solana_state(world)["send_outcomes"].extend(outcomes)


def inject_failure(world: World, *statuses: int) -> None:
    """Answer the next requests with these HTTP statuses (429 carries a JSON-RPC error)."""
    arm_fault(world, *(Fault(None, BEFORE, status) for status in statuses))


Stage = Literal["before", "after_apply"]
BEFORE: Stage = "before"  # the node never sees the request
AFTER_APPLY: Stage = "after_apply"  # the node handled it (a transaction landed); the answer is lost
Answer = Literal["timeout"] | int


@dataclass(frozen=True)
class Fault:
    """One armed failure: the next request of `method` (any method when None) fails at `stage`
    with `answer`, a client-side timeout or an HTTP status."""

    method: str | None
    stage: Stage
    answer: Answer

    def __post_init__(self) -> None:
        if self.stage not in (BEFORE, AFTER_APPLY):
            raise ValueError(f"stage must be {BEFORE!r} or {AFTER_APPLY!r}, not {self.stage!r}")
        if self.answer != "timeout" and not (
            isinstance(self.answer, int) and 400 <= self.answer <= 599
        ):
            raise ValueError(
                f"answer must be 'timeout' or an HTTP error status, not {self.answer!r}"
            )


SEND_APPLIED_THEN_TIMEOUT = "send-applied-then-timeout"
SEND_APPLIED_THEN_502 = "send-applied-then-502"
SEND_APPLIED_THEN_503 = "send-applied-then-503"
SEND_TIMEOUT = "send-timeout"
STATUSES_TIMEOUT = "statuses-timeout"
FAULTS: dict[str, Fault] = {
    SEND_APPLIED_THEN_TIMEOUT: Fault("sendTransaction", AFTER_APPLY, "timeout"),
    SEND_APPLIED_THEN_502: Fault("sendTransaction", AFTER_APPLY, 502),
    SEND_APPLIED_THEN_503: Fault("sendTransaction", AFTER_APPLY, 503),
    SEND_TIMEOUT: Fault("sendTransaction", BEFORE, "timeout"),
    STATUSES_TIMEOUT: Fault("getSignatureStatuses", BEFORE, "timeout"),
}


def arm_fault(world: World, *faults: str | Fault) -> None:
    """Queue faults (a `Fault` or a name from `FAULTS`); each is used by one matching request."""
    resolved = []
    for fault in faults:
        if isinstance(fault, str):
            if fault not in FAULTS:
                raise ValueError(f"unknown fault {fault!r}; use one of {sorted(FAULTS)}")
            fault = FAULTS[fault]
        resolved.append(fault)
    solana_state(world)["faults"].extend(resolved)


def armed_faults(world: World) -> list[Fault]:
    """The faults not used yet, in order."""
    return list(solana_state(world)["faults"])


def clear_faults(world: World) -> list[Fault]:
    """Disarm every fault not used yet; returns them."""
    queue: list[Fault] = solana_state(world)["faults"]
    left = list(queue)
    queue.clear()
    return left


def _take_fault(world: World, method: str) -> Fault | None:
    queue: list[Fault] = solana_state(world)["faults"]
    for index, fault in enumerate(queue):
        if fault.method is None or fault.method == method:
            return queue.pop(index)
    return None


def on_landing(world: World, message_hash: str, hook: LandingHook) -> None:
    """Run `hook` when a transaction with this message (solders `Message.hash()`) lands."""
    solana_state(world)["landing_hooks"][message_hash] = hook


def transaction(world: World, signature: str) -> dict[str, Any] | None:
    return solana_state(world)["transactions"].get(signature)


# --- the app ---------------------------------------------------------------------------------


def build(world: World) -> FastAPI:
    app = FastAPI(title="Helius / Solana RPC emulator (sandbox)")
    state = solana_state(world)

    @app.post("/")
    async def rpc(request: Request) -> Any:
        try:
            body = await request.json()
        except ValueError:
            world.record(STATE_KEY, "invalid", request.url.path)
            return _error(None, -32700, "Parse error")
        method = body.get("method") if isinstance(body, dict) else None
        request_id = body.get("id") if isinstance(body, dict) else None
        world.record(STATE_KEY, str(method), request.url.path)
        key = request.query_params.get("api-key", "")
        if not key or (state["api_keys"] is not None and key not in state["api_keys"]):
            return _error(request_id, -32401, "invalid api key provided", status=401)
        fault = _take_fault(world, str(method))
        if fault is not None and fault.stage == BEFORE:
            return _fault_answer(request_id, fault)
        handler = METHODS.get(str(method))
        if handler is None:
            answer = _error(request_id, -32601, "Method not found")
        else:
            try:
                result = handler(world, body.get("params"))
            except RpcFailure as failure:
                answer = _error(request_id, failure.code, failure.message, data=failure.data)
            else:
                answer = JSONResponse({"jsonrpc": "2.0", "id": request_id, "result": result})
        if fault is not None:  # handled (and applied); the answer never reaches the caller
            return _fault_answer(request_id, fault)
        return answer

    return app


def _error(
    request_id: Any, code: int, message: str, status: int = 200, data: Any = None
) -> JSONResponse:
    error: dict[str, Any] = {"code": code, "message": message}
    if data is not None:
        error["data"] = data
    return JSONResponse({"jsonrpc": "2.0", "id": request_id, "error": error}, status)


def _fault_answer(request_id: Any, fault: Fault) -> Response:
    if fault.answer == "timeout":
        # Raised through the ASGI transport: the client sees its own read timeout.
        raise httpx.ReadTimeout("emulated: no answer before the client's timeout")
    status = int(fault.answer)
    if status in (502, 504):  # the gateway in front of the node answers, in HTML
        title = "502 Bad Gateway" if status == 502 else "504 Gateway Time-out"
        page = f"<html><head><title>{title}</title></head><body><h1>{title}</h1></body></html>"
        return Response(page, status, media_type="text/html")
    return _error(request_id, -32429 if status == 429 else -32603, "injected", status)


def _context(world: World) -> dict[str, Any]:
    return {"slot": current_slot(world), "apiVersion": "2.2.7"}


def _param(params: Any, index: int) -> Any:
    if not isinstance(params, list) or len(params) <= index:
        raise RpcFailure(-32602, "Invalid params: missing parameter")
    return params[index]


def _pubkey(value: Any) -> str:
    try:
        return str(Pubkey.from_string(str(value)))
    except ValueError:
        raise RpcFailure(-32602, f"Invalid param: Invalid {value!r}") from None


def _get_latest_blockhash(world: World, params: Any) -> Any:
    blockhash, last_valid = latest_blockhash(world)
    return {
        "context": _context(world),
        "value": {"blockhash": blockhash, "lastValidBlockHeight": last_valid},
    }


def _get_block_height(world: World, params: Any) -> Any:
    return block_height(world)


def _get_slot(world: World, params: Any) -> Any:
    return current_slot(world)


def _get_health(world: World, params: Any) -> Any:
    return "ok"


def _get_balance(world: World, params: Any) -> Any:
    return {"context": _context(world), "value": balance(world, _pubkey(_param(params, 0)))}


def _ui(amount: int, decimals: int) -> dict[str, Any]:
    text = str(Decimal(amount).scaleb(-decimals).normalize()) if amount else "0"
    return {
        "amount": str(amount),
        "decimals": decimals,
        "uiAmount": float(text),
        "uiAmountString": format(Decimal(text), "f"),
    }


def _decimals(world: World, mint: str) -> int:
    mint_info = solana_state(world)["mints"].get(mint)
    if mint_info is None:
        raise RpcFailure(-32602, "Invalid param: could not find mint")
    return int(mint_info.get("decimals", 0))


def _get_token_supply(world: World, params: Any) -> Any:
    mint = _pubkey(_param(params, 0))
    decimals = _decimals(world, mint)
    accounts = solana_state(world)["token_accounts"].values()
    supply = sum(a["amount"] for a in accounts if a["mint"] == mint)
    return {"context": _context(world), "value": _ui(supply, decimals)}


def _get_token_account_balance(world: World, params: Any) -> Any:
    address = _pubkey(_param(params, 0))
    account = solana_state(world)["token_accounts"].get(address)
    if account is None:
        raise RpcFailure(-32602, "Invalid param: could not find account")
    value = _ui(account["amount"], _decimals(world, account["mint"]))
    return {"context": _context(world), "value": value}


def _get_token_accounts_by_owner(world: World, params: Any) -> Any:
    owner = _pubkey(_param(params, 0))
    selector = _param(params, 1)
    config = params[2] if len(params) > 2 and isinstance(params[2], dict) else {}
    if not isinstance(selector, dict) or not ({"mint", "programId"} & set(selector)):
        raise RpcFailure(-32602, "Invalid params: expected mint or programId filter")
    mint = selector.get("mint")
    if selector.get("programId") not in (None, TOKEN_PROGRAM):
        return {"context": _context(world), "value": []}
    rows = []
    for address, account in sorted(solana_state(world)["token_accounts"].items()):
        if account["owner"] != owner or (mint is not None and account["mint"] != mint):
            continue
        decimals = _decimals(world, account["mint"])
        if config.get("encoding") == "jsonParsed":
            data: Any = {
                "program": "spl-token",
                "parsed": {
                    "type": "account",
                    "info": {
                        "isNative": False,
                        "mint": account["mint"],
                        "owner": owner,
                        "state": "initialized",
                        "tokenAmount": _ui(account["amount"], decimals),
                    },
                },
                "space": 165,
            }
        else:
            data = [base64.b64encode(_token_account_bytes(account)).decode(), "base64"]
        rows.append(
            {
                "pubkey": address,
                "account": {
                    "data": data,
                    "executable": False,
                    "lamports": 2_039_280,
                    "owner": TOKEN_PROGRAM,
                    "rentEpoch": 18_446_744_073_709_551_615,
                    "space": 165,
                },
            }
        )
    return {"context": _context(world), "value": rows}


def _token_account_bytes(account: Mapping[str, Any]) -> bytes:
    """The 165-byte SPL token account layout (no delegate, initialized, no close authority)."""
    return (
        bytes(Pubkey.from_string(account["mint"]))
        + bytes(Pubkey.from_string(account["owner"]))
        + struct.pack("<Q", account["amount"])
        + bytes(36)  # delegate: None
        + bytes([1])  # state: initialized
        + bytes(12)  # is_native: None
        + struct.pack("<Q", 0)  # delegated amount
        + bytes(36)  # close authority: None
    )


def _get_token_accounts(world: World, params: Any) -> Any:
    """DAS getTokenAccounts: named params, 1-based pages, an empty page past the end."""
    if not isinstance(params, dict):
        raise RpcFailure(-32602, "Invalid params: expected an object")
    mint, owner = params.get("mint"), params.get("owner")
    if mint is None and owner is None:
        raise RpcFailure(-32602, "Invalid params: mint or owner is required")
    page, limit = params.get("page", 1), params.get("limit", 100)
    if not isinstance(page, int) or page < 1 or not isinstance(limit, int) or limit < 1:
        raise RpcFailure(-32602, "Invalid params: page and limit must be positive integers")
    if limit > MAX_DAS_LIMIT:
        raise RpcFailure(-32602, f"Invalid params: limit must be at most {MAX_DAS_LIMIT}")
    options = params.get("options") or {}
    show_zero = bool(options.get("showZeroBalance", False))
    rows = [
        {
            "address": address,
            "mint": account["mint"],
            "owner": account["owner"],
            "amount": account["amount"],
            "delegated_amount": 0,
            "frozen": False,
        }
        for address, account in sorted(solana_state(world)["token_accounts"].items())
        if (mint is None or account["mint"] == mint)
        and (owner is None or account["owner"] == owner)
        and (show_zero or account["amount"] > 0)
    ]
    chunk = rows[(page - 1) * limit : page * limit]
    # Like Helius, `total` is the size of this page, not of the whole set.
    return {
        "last_indexed_slot": current_slot(world),
        "total": len(chunk),
        "limit": limit,
        "page": page,
        "token_accounts": chunk,
    }


def _get_signature_statuses(world: World, params: Any) -> Any:
    signatures = _param(params, 0)
    if not isinstance(signatures, list) or len(signatures) > 256:
        raise RpcFailure(-32602, "Invalid params: at most 256 signatures")
    height = block_height(world)
    values: list[dict[str, Any] | None] = []
    for signature in signatures:
        record = solana_state(world)["transactions"].get(signature)
        if record is None or not record["landed"]:
            values.append(None)
            continue
        depth = height - record["height"]
        finalized = depth >= FINALIZE_AFTER
        err = record["err"]
        values.append(
            {
                "slot": record["slot"],
                "confirmations": None if finalized else depth,
                "err": err,
                "status": {"Ok": None} if err is None else {"Err": err},
                "confirmationStatus": "finalized" if finalized else "confirmed",
            }
        )
    return {"context": _context(world), "value": values}


def _send_transaction(world: World, params: Any) -> Any:
    state = solana_state(world)
    encoded = _param(params, 0)
    config = params[1] if len(params) > 1 and isinstance(params[1], dict) else {}
    try:
        if config.get("encoding", "base58") == "base64":
            wire = base64.b64decode(encoded, validate=True)
        else:
            wire = base58.b58decode(encoded)
        tx = VersionedTransaction.from_bytes(wire)
        tx.sanitize()
    except Exception:
        raise RpcFailure(
            -32602, "invalid transaction: failed to deserialize VersionedTransaction"
        ) from None
    if not all(tx.verify_with_results()):
        raise RpcFailure(-32003, "Transaction signature verification failure")
    outcome = state["send_outcomes"].pop(0) if state["send_outcomes"] else None
    message = tx.message
    blockhash = str(message.recent_blockhash)
    issued = state["blockhashes"].get(blockhash)
    height = block_height(world)
    if outcome == "blockhash_not_found" or issued is None or height > issued + BLOCKHASH_LIFETIME:
        _simulation_failed("Blockhash not found", "BlockhashNotFound")
    signature = str(tx.signatures[0])
    previous = state["transactions"].get(signature)
    if previous is not None and previous["landed"]:
        _simulation_failed(ALREADY_PROCESSED, "AlreadyProcessed")
    if outcome == "insufficient_funds_for_fee":
        _simulation_failed("Insufficient funds for fee", "InsufficientFundsForFee")
    keys = [str(key) for key in message.account_keys]
    fee, transfers = _plan(message, keys)
    balances = dict(state["balances"])
    payer = keys[0]
    if balances.get(payer, 0) < fee:
        _simulation_failed("Insufficient funds for fee", "InsufficientFundsForFee")
    balances[payer] = balances.get(payer, 0) - fee
    for index, (source, target, lamports) in enumerate(transfers):
        if balances.get(source, 0) < lamports:
            _simulation_failed(
                f"Error processing Instruction {index}: custom program error: 0x1",
                {"InstructionError": [index, {"Custom": 1}]},
            )
        balances[source] = balances.get(source, 0) - lamports
        balances[target] = balances.get(target, 0) + lamports
    record: dict[str, Any] = {
        "landed": False,
        "height": height,
        "slot": current_slot(world),
        "block_time": int(world.clock.now().timestamp()),
        "err": None,
        "wire": bytes(tx),
        "fee": fee,
        "pre_balances": [state["balances"].get(key, 0) for key in keys],
        "pre_token_balances": _token_balances(world, keys),
    }
    state["transactions"][signature] = record
    if outcome == "dropped":
        return signature  # accepted by the RPC node, never included in a block
    record["landed"] = True
    hook = state["landing_hooks"].get(str(message.hash()))
    failure = {"InstructionError": [0, {"Custom": 1}]} if outcome == "landed_failed" else None
    if failure is None and hook is not None:
        failure = hook(world)
    if failure is not None:
        # A failed transaction still pays its fee, and nothing else moves.
        state["balances"][payer] = state["balances"].get(payer, 0) - fee
        record["err"] = failure
    else:
        state["balances"] = balances
    record["post_balances"] = [state["balances"].get(key, 0) for key in keys]
    record["post_token_balances"] = _token_balances(world, keys)
    return signature


def _token_balances(world: World, keys: list[str]) -> list[dict[str, Any]]:
    """The meta's token balances: one per account key that is a token account now."""
    accounts = solana_state(world)["token_accounts"]
    balances = []
    for index, key in enumerate(keys):
        account = accounts.get(key)
        if account is None:
            continue
        decimals = solana_state(world)["mints"].get(account["mint"], {}).get("decimals", 0)
        amount = _ui(account["amount"], int(decimals))
        if account["amount"] == 0:
            amount["uiAmount"] = None  # how the node renders an empty account's amount
        balances.append(
            {
                "accountIndex": index,
                "mint": account["mint"],
                "owner": account["owner"],
                "programId": TOKEN_PROGRAM,
                "uiTokenAmount": amount,
            }
        )
    return balances


def _get_transaction(world: World, params: Any) -> Any:
    """A landed transaction in `json` encoding with its meta, or null (unknown, dropped, or not
    yet at the asked commitment)."""
    signature = _param(params, 0)
    config = params[1] if len(params) > 1 and isinstance(params[1], dict) else {}
    if config.get("encoding", "json") != "json":
        raise RpcFailure(-32602, "Invalid params: the emulator serves encoding json only")
    commitment = config.get("commitment", "finalized")
    if commitment not in ("confirmed", "finalized"):
        raise RpcFailure(-32602, "Method does not support commitment below `confirmed`")
    record = solana_state(world)["transactions"].get(str(signature))
    if record is None or not record["landed"]:
        return None
    if commitment == "finalized" and block_height(world) - record["height"] < FINALIZE_AFTER:
        return None
    tx = VersionedTransaction.from_bytes(record["wire"])
    message = tx.message
    legacy = not isinstance(message, MessageV0)
    if not legacy and config.get("maxSupportedTransactionVersion") is None:
        raise RpcFailure(-32015, UNSUPPORTED_VERSION)
    header = message.header
    wire_message: dict[str, Any] = {
        "accountKeys": [str(key) for key in message.account_keys],
        "header": {
            "numRequiredSignatures": header.num_required_signatures,
            "numReadonlySignedAccounts": header.num_readonly_signed_accounts,
            "numReadonlyUnsignedAccounts": header.num_readonly_unsigned_accounts,
        },
        "instructions": [
            {
                "programIdIndex": ix.program_id_index,
                "accounts": list(ix.accounts),
                "data": base58.b58encode(bytes(ix.data)).decode(),
                "stackHeight": None,
            }
            for ix in message.instructions
        ],
        "recentBlockhash": str(message.recent_blockhash),
    }
    if not legacy:
        wire_message["addressTableLookups"] = []
    err = record["err"]
    return {
        "slot": record["slot"],
        "blockTime": record["block_time"],
        "version": "legacy" if legacy else 0,
        "transaction": {
            "signatures": [str(s) for s in tx.signatures],
            "message": wire_message,
        },
        # Logs and inner instructions are not emulated, so they are left out rather than faked.
        "meta": {
            "err": err,
            "status": {"Ok": None} if err is None else {"Err": err},
            "fee": record["fee"],
            "preBalances": record["pre_balances"],
            "postBalances": record["post_balances"],
            "preTokenBalances": record["pre_token_balances"],
            "postTokenBalances": record["post_token_balances"],
            "loadedAddresses": {"writable": [], "readonly": []},
        },
    }


def _plan(message: Any, keys: list[str]) -> tuple[int, list[tuple[str, str, int]]]:
    """The fee and the lamport transfers of a message; other programs are not emulated."""
    if isinstance(message, MessageV0) and message.address_table_lookups:
        _simulation_failed("address lookup tables are not emulated", "UnsupportedVersion")
    units, micro_lamports = DEFAULT_COMPUTE_UNITS, 0
    transfers = []
    for index, instruction in enumerate(message.instructions):
        program = keys[instruction.program_id_index]
        data = bytes(instruction.data)
        accounts = list(instruction.accounts)
        if program == COMPUTE_BUDGET_PROGRAM:
            if data[:1] == b"\x02" and len(data) == 5:
                units = struct.unpack_from("<I", data, 1)[0]
            elif data[:1] == b"\x03" and len(data) == 9:
                micro_lamports = struct.unpack_from("<Q", data, 1)[0]
        elif program == SYSTEM_PROGRAM:
            if len(data) != 12 or struct.unpack_from("<I", data)[0] != 2 or len(accounts) < 2:
                _simulation_failed(
                    f"Error processing Instruction {index}: only transfers are emulated",
                    {"InstructionError": [index, "InvalidInstructionData"]},
                )
            if not message.is_signer(accounts[0]):
                _simulation_failed(
                    f"Error processing Instruction {index}: missing required signature",
                    {"InstructionError": [index, "MissingRequiredSignature"]},
                )
            lamports = struct.unpack_from("<Q", data, 4)[0]
            transfers.append((keys[accounts[0]], keys[accounts[1]], lamports))
        elif program != MEMO_PROGRAM:
            _simulation_failed(
                "Attempt to load a program that does not exist", "ProgramAccountNotFound"
            )
    signatures = message.header.num_required_signatures
    priority = math.ceil(units * micro_lamports / 1_000_000)
    return FEE_PER_SIGNATURE * signatures + priority, transfers


def _simulation_failed(reason: str, err: Any) -> NoReturn:
    raise RpcFailure(
        -32002,
        f"Transaction simulation failed: {reason}",
        {"err": err, "logs": [], "accounts": None, "unitsConsumed": 0, "returnData": None},
    )


METHODS: dict[str, Callable[[World, Any], Any]] = {
    "getLatestBlockhash": _get_latest_blockhash,
    "getBlockHeight": _get_block_height,
    "getSlot": _get_slot,
    "getHealth": _get_health,
    "getBalance": _get_balance,
    "getTokenSupply": _get_token_supply,
    "getTokenAccountBalance": _get_token_account_balance,
    "getTokenAccountsByOwner": _get_token_accounts_by_owner,
    "getTokenAccounts": _get_token_accounts,
    "getSignatureStatuses": _get_signature_statuses,
    "getTransaction": _get_transaction,
    "sendTransaction": _send_transaction,
}
