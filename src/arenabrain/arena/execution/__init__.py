"""Paper trading: BET batches and SELLs at validated CLOB prices (§7 of the reference).

`fills` holds the pure fill math, `trades` writes trades, positions and balances, and
`accounting` checks the invariants those writes keep.

Fills are at a single price with no fees or slippage: binary YES at the YES token's midpoint,
NO at one minus it, a multi-outcome side at its own token's midpoint. Nothing trades without a
validated price or on a market that is not active.

- A BET batch is all or nothing: every leg is checked and planned in memory first (later legs
  see the cash and positions of earlier ones), and only a batch whose every leg passes is
  written. The whole decision may use at most 25 % of the cash it started with.
- SELLs are independent: each sells a percentage of one position at the current price and
  realises P/L against its share of the cost basis; the ones that fail get one more try.
- Money math is `Decimal`; columns stay REAL, as in the anchor, and are converted at the edge.

Every function here works inside the caller's unit of work (it never commits), and writes the
agent's cash, `total_invested` and status in that same transaction, so the accounting
invariants of §7.7 (`accounting.accounting_problems`) hold after every commit."""
