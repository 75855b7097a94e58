"""Bags.fm emulator (`/api/v1/...`): claimable fee positions, claim transactions, quotes, swaps.

Faithful to the wire: the `x-api-key` header, the `{success, response}` / `{success:false,
error}` envelope, 1,000 requests per rolling hour per key with `X-RateLimit-*` headers (429 with
`Retry-After` past it), amounts as numbers or strings, and REAL base58 transactions:
- `claim-txs/v3` returns legacy transactions moving the claimable lamports from the emulator's
  fee vault to the claimer; the claimer pays the fee and the vault (a required signer) has
  already signed, so the claimer must partially sign. When one lands on the emulated RPC, the
  position is released; claiming more than is left fails on chain. Like the real endpoint it is
  keyed by token mint: when the wallet has several positions of one token (a pool position and a
  custom fee vault), the answer holds the transactions of all of them.
- `trade/swap` returns a v0 transaction whose only required signer is the user (an empty
  placeholder signature), moving the quoted lamports to the emulator's pool; when it lands the
  user's USDC account is credited (the quote's out amount, less `swap_shortfall_bps`, never
  below the quote's minimum). Like a real route, the transaction names that USDC account
  (writable), so its token balances appear in the transaction's meta.

Fees can also accrue on their own: `start_fee_accrual` makes a token's trading earn its claimer
fees hour by hour on the world's clock (see `fees`); before every request (and every
`claimable_lamports` read) the emulator credits what was earned since it last looked.

Knobs: `add_claimable_position` (accrues into an existing position of the same kind),
`claimable_lamports`, `set_sol_price`, `inject_failure` (e.g. 503, 429 or
`{"status": 429, "retry_after": 5}`), and `bags_state(world)` for `api_keys`, `rate_limit`,
`window_seconds`, `impact_pct_per_sol` and `swap_shortfall_bps`."""

from __future__ import annotations

import hashlib
import math
from decimal import ROUND_DOWN, Decimal
from typing import Any, Literal, cast

import base58
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from solders.compute_budget import set_compute_unit_limit, set_compute_unit_price
from solders.hash import Hash
from solders.instruction import AccountMeta, Instruction
from solders.keypair import Keypair
from solders.message import Message, MessageV0
from solders.null_signer import NullSigner
from solders.pubkey import Pubkey
from solders.system_program import TransferParams, transfer
from solders.token.associated import get_associated_token_address
from solders.transaction import Transaction, VersionedTransaction

from arenabrain.clients.solana import LAMPORTS_PER_SOL, USDC_MINT, WSOL_MINT
from arenabrain.sandbox import solana
from arenabrain.sandbox.fees import FeeAccrual
from arenabrain.sandbox.world import World

STATE_KEY = "bags"
BASE = "/api/v1"
FEE_SHARE_V1_PROGRAM = "FEEhPbKVKnco9EXnaY3i4R5rQVUx91wgVfu8qokixywi"
FEE_SHARE_V2_PROGRAM = "FEE2tBhCKAt7shrod19QttSVREUYPiyMzoku1mL1gqVK"
COMPUTE_UNIT_LIMIT = 200_000
PRIORITY_FEE_LAMPORTS = 5_000
AUTO_SLIPPAGE_BPS = 100
NOTHING_TO_CLAIM = {"InstructionError": [0, {"Custom": 6004}]}
MEMO_PROGRAM = Pubkey.from_string(solana.MEMO_PROGRAM)
USDC = Pubkey.from_string(USDC_MINT)

Kind = Literal["standard", "fee_share_v1", "fee_share_v2"]
KINDS: tuple[Kind, ...] = ("standard", "fee_share_v1", "fee_share_v2")


class BagsError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def bags_state(world: World) -> dict[str, Any]:
    if world.bags is None:
        world.bags = {
            "positions": {},  # wallet -> [position]
            "api_keys": None,  # None: any non-empty key is accepted
            "rate_limit": 1000,
            "window_seconds": 3600,
            "requests": {},  # api key -> [unix seconds]
            "fail_next": [],
            "sol_price_usd": Decimal("150"),
            "impact_pct_per_sol": Decimal("0.01"),  # price impact, in percent, per SOL sold
            "swap_shortfall_bps": 0,
            "quote_count": 0,
        }
    world.bags.setdefault("accruals", [])  # FeeAccrual, see `start_fee_accrual`
    return world.bags


def fee_vault(world: World) -> Keypair:
    """The emulator's fee vault: it holds the claimable lamports and co-signs claims."""
    return Keypair.from_seed(hashlib.sha256(f"bags-fee-vault:{world.seed}".encode()).digest())


def pool_address(world: World) -> str:
    """Where swapped lamports go (the emulated SOL/USDC pool)."""
    return str(Pubkey(hashlib.sha256(f"bags-pool:{world.seed}".encode()).digest()))


def add_claimable_position(
    world: World,
    wallet: str,
    mint: str,
    lamports: int,
    kind: Kind = "standard",
    *,
    migrated: bool = True,
    as_strings: bool = False,
    tx_count: int = 1,
) -> dict[str, Any]:
    """Accrue `lamports` of claimable fees for `wallet` on `mint` (funding the fee vault).

    Migrated pools split fees 70/30 between the virtual pool and the DAMM pool. `as_strings`
    renders amounts as strings; `tx_count` > 1 makes the claim need several transactions."""
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}")
    positions = bags_state(world)["positions"].setdefault(wallet, [])
    position = next((p for p in positions if p["mint"] == mint and p["kind"] == kind), None)
    if position is None:
        position = {
            "mint": mint,
            "kind": kind,
            "virtual": 0,
            "damm": 0,
            "migrated": migrated,
            "as_strings": as_strings,
            "tx_count": tx_count,
            "pool": str(Pubkey(hashlib.sha256(f"vpool:{mint}:{kind}".encode()).digest())),
        }
        positions.append(position)
    damm = lamports * 3 // 10 if position["migrated"] else 0
    position["damm"] += damm
    position["virtual"] += lamports - damm
    solana.credit_lamports(world, str(fee_vault(world).pubkey()), lamports)
    return position


def start_fee_accrual(
    world: World,
    wallet: str,
    mint: str,
    *,
    daily_volume_sol: float = 250.0,
    fee_bps: int = 100,
    kind: Kind = "standard",
) -> FeeAccrual:
    """From now on, `mint` trades about `daily_volume_sol` a day and `wallet` earns `fee_bps`
    of it as claimable fees (Bags pays a token's creator 1 % of its volume)."""
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}")
    if daily_volume_sol < 0 or not 0 <= fee_bps <= 10_000:
        raise ValueError("daily_volume_sol must be >= 0 and fee_bps within 0..10000")
    accrual = FeeAccrual(
        seed=world.seed,
        wallet=str(Pubkey.from_string(wallet)),
        mint=str(Pubkey.from_string(mint)),
        kind=kind,
        started=world.clock.now(),
        daily_volume_lamports=int(daily_volume_sol * LAMPORTS_PER_SOL),
        fee_bps=fee_bps,
    )
    bags_state(world)["accruals"].append(accrual)
    return accrual


def accrue_fees(world: World) -> int:
    """Credit every accrual's fees earned up to now (funding the fee vault); returns the
    lamports credited."""
    now = world.clock.now()
    credited = 0
    for accrual in bags_state(world)["accruals"]:
        due = accrual.earned(now) - accrual.credited
        if due > 0:
            kind = cast(Kind, accrual.kind)  # checked by `start_fee_accrual`
            add_claimable_position(world, accrual.wallet, accrual.mint, due, kind)
            accrual.credited += due
            credited += due
    return credited


def claimable_lamports(world: World, wallet: str, mint: str | None = None) -> int:
    accrue_fees(world)
    positions = bags_state(world)["positions"].get(wallet, [])
    return sum(p["virtual"] + p["damm"] for p in positions if mint is None or p["mint"] == mint)


def set_sol_price(world: World, usd: Decimal | str | int) -> None:
    bags_state(world)["sol_price_usd"] = Decimal(str(usd))


def inject_failure(world: World, *failures: int | dict[str, Any]) -> None:
    """Answer the next requests with these statuses (a dict may add `retry_after`, `error`)."""
    bags_state(world)["fail_next"].extend(failures)


# --- wire shapes ------------------------------------------------------------------------------


def _position_wire(wallet: str, position: dict[str, Any]) -> dict[str, Any]:
    def amount(value: int) -> int | str:
        return str(value) if position["as_strings"] else value

    total = position["virtual"] + position["damm"]
    common = {
        "baseMint": position["mint"],
        "virtualPool": position["pool"],
        "isMigrated": position["migrated"],
    }
    if position["kind"] == "standard":
        return {
            "isCustomFeeVault": False,
            **common,
            "virtualPoolAddress": position["pool"],
            "virtualPoolClaimableAmount": amount(position["virtual"]),
            "dammPoolClaimableAmount": amount(position["damm"]),
            "claimableDisplayAmount": total / LAMPORTS_PER_SOL,
        }
    shares = {
        "virtualPoolClaimableLamportsUserShare": amount(position["virtual"]),
        "dammPoolClaimableLamportsUserShare": amount(position["damm"]),
        "totalClaimableLamportsUserShare": amount(total),
    }
    if position["kind"] == "fee_share_v1":
        return {
            "isCustomFeeVault": True,
            "programId": FEE_SHARE_V1_PROGRAM,
            **common,
            "quoteMint": WSOL_MINT,
            "customFeeVault": str(fee_vault_pda(position)),
            "customFeeVaultClaimerA": wallet,
            "customFeeVaultClaimerB": str(Pubkey.default()),
            "customFeeVaultClaimerSide": "A",
            **shares,
        }
    return {
        "isCustomFeeVault": True,
        "programId": FEE_SHARE_V2_PROGRAM,
        "user": wallet,
        **common,
        "quoteMint": WSOL_MINT,
        "claimerIndex": 0,
        "userBps": 10_000,
        **shares,
    }


def fee_vault_pda(position: dict[str, Any]) -> Pubkey:
    program = Pubkey.from_string(FEE_SHARE_V1_PROGRAM)
    seeds = [b"fee_vault", bytes(Pubkey.from_string(position["mint"]))]
    return Pubkey.find_program_address(seeds, program)[0]


def _claim_transactions(world: World, wallet: str, position: dict[str, Any]) -> list[Any]:
    total = position["virtual"] + position["damm"]
    count = max(int(position["tx_count"]), 1)
    parts = [total // count + (1 if i < total % count else 0) for i in range(count)]
    vault = fee_vault(world)
    claimer = Pubkey.from_string(wallet)
    blockhash, last_valid = solana.latest_blockhash(world)
    items = []
    for index, part in enumerate(parts):
        if part <= 0:
            continue
        ix = transfer(TransferParams(from_pubkey=vault.pubkey(), to_pubkey=claimer, lamports=part))
        # Real claims of different positions (or pools) touch different accounts; the memo
        # plays that part, so two claims of equal amounts are never the same transaction.
        label = Instruction(MEMO_PROGRAM, f"claim:{position['pool']}:{index}".encode(), [])
        message = Message.new_with_blockhash([ix, label], claimer, solana_hash(blockhash))
        tx = Transaction.new_unsigned(message)
        tx.partial_sign([vault], message.recent_blockhash)
        solana.on_landing(world, str(message.hash()), _release(position, part))
        items.append(
            {
                "tx": base58.b58encode(bytes(tx)).decode(),
                "blockhash": {"blockhash": blockhash, "lastValidBlockHeight": last_valid},
            }
        )
    return items


def _release(position: dict[str, Any], lamports: int) -> solana.LandingHook:
    def hook(world: World) -> Any:
        if position["virtual"] + position["damm"] < lamports:
            return NOTHING_TO_CLAIM  # already claimed: the fee program refuses
        from_virtual = min(position["virtual"], lamports)
        position["virtual"] -= from_virtual
        position["damm"] -= lamports - from_virtual
        return None

    return hook


def solana_hash(text: str) -> Hash:
    return Hash.from_string(text)


def _quote(world: World, params: dict[str, str]) -> dict[str, Any]:
    state = bags_state(world)
    input_mint, output_mint = params.get("inputMint"), params.get("outputMint")
    if not input_mint or not output_mint:
        raise BagsError(400, "inputMint and outputMint are required")
    if (input_mint, output_mint) != (WSOL_MINT, USDC_MINT):
        raise BagsError(400, "No route found")
    amount_text = params.get("amount", "")
    if not amount_text.isdigit() or int(amount_text) <= 0:
        raise BagsError(400, "Invalid amount")
    mode = params.get("slippageMode", "auto")
    if mode == "manual":
        bps_text = params.get("slippageBps", "")
        if not bps_text.isdigit() or int(bps_text) > 10_000:
            raise BagsError(400, "slippageBps must be 0 to 10000 with slippageMode=manual")
        slippage = int(bps_text)
    elif mode == "auto":
        slippage = AUTO_SLIPPAGE_BPS
    else:
        raise BagsError(400, "slippageMode must be auto or manual")
    lamports = int(amount_text)
    sol = Decimal(lamports) / LAMPORTS_PER_SOL
    impact_pct = min(sol * state["impact_pct_per_sol"], Decimal(50))
    # USDC has 6 decimals and SOL 9: base units out = lamports * price / 1000.
    gross = Decimal(lamports) * state["sol_price_usd"] / 1000
    out = int((gross * (1 - impact_pct / 100)).to_integral_value(ROUND_DOWN))
    minimum = out * (10_000 - slippage) // 10_000
    state["quote_count"] += 1
    slot = solana.current_slot(world)
    return {
        "requestId": f"q_{world.seed:04d}{state['quote_count']:08d}",
        "contextSlot": slot,
        "inAmount": str(lamports),
        "inputMint": input_mint,
        "outAmount": str(out),
        "outputMint": output_mint,
        "minOutAmount": str(minimum),
        "otherAmountThreshold": str(minimum),
        "priceImpactPct": format(impact_pct.normalize(), "f"),
        "slippageBps": slippage,
        "routePlan": [
            {
                "venue": "Meteora DAMM v2",
                "inAmount": str(lamports),
                "outAmount": str(out),
                "inputMint": input_mint,
                "outputMint": output_mint,
                "inputMintDecimals": 9,
                "outputMintDecimals": 6,
                "marketKey": pool_address(world),
                "data": "",
            }
        ],
        "platformFee": {
            "amount": "0",
            "feeBps": 0,
            "feeAccount": "",
            "segmenterFeeAmount": "0",
            "segmenterFeePct": 0,
        },
        "outTransferFee": "0",
        "simulatedComputeUnits": 180_000,
    }


def _swap(world: World, body: Any) -> dict[str, Any]:
    if not isinstance(body, dict) or not isinstance(body.get("quoteResponse"), dict):
        raise BagsError(400, "quoteResponse is required")
    quote = body["quoteResponse"]
    try:
        user = Pubkey.from_string(str(body.get("userPublicKey", "")))
    except ValueError:
        raise BagsError(400, "Invalid userPublicKey") from None
    try:
        lamports = int(str(quote["inAmount"]))
        out = int(str(quote["outAmount"]))
        minimum = int(str(quote["minOutAmount"]))
    except (KeyError, ValueError):
        raise BagsError(400, "Invalid quoteResponse") from None
    if (quote.get("inputMint"), quote.get("outputMint")) != (WSOL_MINT, USDC_MINT):
        raise BagsError(400, "No route found")
    blockhash, last_valid = solana.latest_blockhash(world)
    price = PRIORITY_FEE_LAMPORTS * 1_000_000 // COMPUTE_UNIT_LIMIT  # micro-lamports per unit
    instructions = [
        set_compute_unit_limit(COMPUTE_UNIT_LIMIT),
        set_compute_unit_price(price),
        transfer(
            TransferParams(
                from_pubkey=user,
                to_pubkey=Pubkey.from_string(pool_address(world)),
                lamports=lamports,
            )
        ),
        # The route's own program is not emulated; the memo stands in for it and, like it,
        # names the user's USDC account that receives the output.
        Instruction(
            MEMO_PROGRAM,
            f"swap:{quote.get('requestId', '')}".encode(),
            [AccountMeta(get_associated_token_address(user, USDC), False, True)],
        ),
    ]
    message = MessageV0.try_compile(user, instructions, [], solana_hash(blockhash))
    tx = VersionedTransaction(message, [NullSigner(user)])
    shortfall = int(bags_state(world)["swap_shortfall_bps"])
    received = max(minimum, out * (10_000 - shortfall) // 10_000)
    solana.on_landing(world, str(message.hash()), _credit_usdc(str(user), received))
    return {
        "swapTransaction": base58.b58encode(bytes(tx)).decode(),
        "computeUnitLimit": COMPUTE_UNIT_LIMIT,
        "lastValidBlockHeight": last_valid,
        "prioritizationFeeLamports": PRIORITY_FEE_LAMPORTS,
    }


def _credit_usdc(owner: str, amount: int) -> solana.LandingHook:
    def hook(world: World) -> Any:
        solana.credit_token(world, owner, USDC_MINT, amount)
        return None

    return hook


# --- the app ---------------------------------------------------------------------------------


def build(world: World) -> FastAPI:
    app = FastAPI(title="Bags.fm emulator (sandbox)")
    state = bags_state(world)

    @app.middleware("http")
    async def gate(request: Request, call_next: Any) -> Any:
        world.record(STATE_KEY, request.method, request.url.path)
        accrue_fees(world)  # the token traded since the last request
        key = request.headers.get("x-api-key", "")
        if not key:
            return _failure(401, "API key is required")
        if state["api_keys"] is not None and key not in state["api_keys"]:
            return _failure(401, "Invalid API key")
        now = world.clock.now().timestamp()
        window = float(state["window_seconds"])
        sent = [t for t in state["requests"].get(key, []) if t > now - window]
        state["requests"][key] = sent
        limit = int(state["rate_limit"])
        reset = math.ceil((sent[0] if sent else now) + window)
        if len(sent) >= limit:
            headers = _limit_headers(limit, 0, reset)
            headers["Retry-After"] = str(max(math.ceil(sent[0] + window - now), 1))
            return _failure(429, "Rate limit exceeded", headers)
        sent.append(now)
        headers = _limit_headers(limit, limit - len(sent), reset)
        if state["fail_next"]:
            failure = state["fail_next"].pop(0)
            spec = failure if isinstance(failure, dict) else {"status": failure}
            if spec.get("retry_after") is not None:
                headers["Retry-After"] = str(spec["retry_after"])
            return _failure(
                int(spec["status"]), str(spec.get("error", "injected failure")), headers
            )
        response = await call_next(request)
        response.headers.update(headers)
        return response

    @app.exception_handler(BagsError)
    async def bags_error(request: Request, exc: BagsError) -> JSONResponse:
        return _failure(exc.status, exc.message)

    @app.get(f"{BASE}/token-launch/claimable-positions")
    async def claimable_positions(request: Request) -> Any:
        wallet = _wallet(request.query_params.get("wallet"), "wallet")
        positions = state["positions"].get(wallet, [])
        return _ok([_position_wire(wallet, p) for p in positions if p["virtual"] + p["damm"] > 0])

    @app.post(f"{BASE}/token-launch/claim-txs/v3")
    async def claim_txs(request: Request) -> Any:
        body = await _json(request)
        wallet = _wallet(body.get("feeClaimer"), "feeClaimer")
        mint = _wallet(body.get("tokenMint"), "tokenMint")
        positions = [p for p in state["positions"].get(wallet, []) if p["mint"] == mint]
        if not positions:
            raise BagsError(400, "No claimable positions found for this token")
        items = []
        for position in positions:
            items.extend(_claim_transactions(world, wallet, position))
        return _ok(items)

    @app.get(f"{BASE}/trade/quote")
    async def trade_quote(request: Request) -> Any:
        return _ok(_quote(world, dict(request.query_params)))

    @app.post(f"{BASE}/trade/swap")
    async def trade_swap(request: Request) -> Any:
        return _ok(_swap(world, await _json(request)))

    return app


def _ok(payload: Any) -> dict[str, Any]:
    return {"success": True, "response": payload}


def _failure(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"success": False, "error": message}, status, headers=headers)


def _limit_headers(limit: int, remaining: int, reset: int) -> dict[str, str]:
    return {
        "X-RateLimit-Limit": str(limit),
        "X-RateLimit-Remaining": str(max(remaining, 0)),
        "X-RateLimit-Reset": str(reset),
    }


def _wallet(value: Any, name: str) -> str:
    try:
        return str(Pubkey.from_string(str(value)))
    except ValueError:
        raise BagsError(400, f"Invalid {name} address format") from None


async def _json(request: Request) -> dict[str, Any]:
    try:
        body = await request.json()
    except ValueError:
        raise BagsError(400, "Invalid JSON body") from None
    if not isinstance(body, dict):
        raise BagsError(400, "Invalid JSON body")
    return body
