"""Sending a signed transaction, where the recorded signature's status on chain decides.

A send's answer does not always say what happened. A timeout or a 5xx may hide a transaction
that landed; the retry of such a send is then refused in preflight as "This transaction has
already been processed" (or, once its blockhash expired, as "Blockhash not found"), and a
malformed 200 says nothing either. So `send_signed` tells three outcomes apart:

- `SENT`: the node took it, or refused it as already processed (it landed earlier);
- `REJECTED`: every attempt was refused before it could land (a preflight error, a 4xx, an
  open breaker) and none was ambiguous: a clear rejection, nothing happened on chain;
- `UNCERTAIN`: anything else. The transaction may have landed.

For SENT and UNCERTAIN the caller does not decide from the answer: it waits for the
signature's status (`confirmation`), which says confirmed, failed, or expired (it can never
land). The signature was recorded before the send, so a crash or a failure at any point leaves
it to be checked again on resume, never re-sent blindly and never forgotten."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from arenabrain.clients.breakers import BreakerOpen
from arenabrain.clients.errors import UpstreamError
from arenabrain.clients.solana import RpcError
from arenabrain.credits.phases.base import PhaseContext

SendState = Literal["sent", "rejected", "uncertain"]
SENT: SendState = "sent"
REJECTED: SendState = "rejected"
UNCERTAIN: SendState = "uncertain"


@dataclass(frozen=True)
class SendOutcome:
    state: SendState
    error: UpstreamError | None = None  # the last error seen, if any

    @property
    def stale(self) -> bool:
        """A clear rejection because the blockhash is unknown or expired: fetch a fresh one."""
        return (
            self.state == REJECTED
            and isinstance(self.error, RpcError)
            and self.error.blockhash_not_found
        )


def refused(exc: UpstreamError) -> bool:
    """True when this attempt certainly did not send the transaction."""
    if isinstance(exc, RpcError):  # the node answered with an error object
        return not exc.transient and not exc.already_processed
    if isinstance(exc, BreakerOpen):  # never tried
        return True
    # The node (or its gateway) refused the request itself; a 200 that we could not read
    # (status 200, malformed) is not a refusal.
    return not exc.transient and exc.status is not None and 400 <= exc.status < 500


async def send_signed(pc: PhaseContext, kind: str, wire: bytes) -> SendOutcome:
    """Send signed wire bytes (transient failures retried with the same bytes, which can land
    at most once) and classify the outcome; see the module doc."""
    solana = pc.clients.solana
    seen: list[UpstreamError] = []

    async def attempt() -> None:
        try:
            await solana.send_transaction(wire)
        except RpcError as exc:
            if exc.already_processed:
                return  # it landed earlier: this is the answer a lost one would have given
            seen.append(exc)
            raise
        except UpstreamError as exc:
            seen.append(exc)
            raise

    try:
        await pc.guard.call("solana", attempt, what=f"send {kind.lower()}")
    except UpstreamError as exc:
        ambiguous = [e for e in seen if not refused(e)]
        if not ambiguous and refused(exc):
            return SendOutcome(REJECTED, exc)
        pc.log.warning(
            "Send outcome uncertain; the signature's status on chain decides",
            kind=kind,
            errorMessage=str(exc),
        )
        return SendOutcome(UNCERTAIN, exc)
    return SendOutcome(SENT)
