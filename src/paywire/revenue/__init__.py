"""Revenue: what each subscription is worth a month (MRR), the ledger of its changes, and the
movements they make (new, expansion, contraction, churn, reactivation).

The mirror is the single source. Whenever it writes a subscription (the events worker, a
lifecycle operation, `paywire sync`), `ledger.record` compares the state's monthly value with
the ledger's last row for that subscription, in the same transaction: a different value is one
new row, keyed by the subscription and the row it follows (`seq`), so a re-write of the same
state adds nothing and a racing writer hits the unique key. A subscription the ledger has no
row of yet gets its history rebuilt from Stripe's objects (`history.history`), which is how
`paywire sync` backfills what happened before the inbox (`ledger.rebuild`).

`mrr` holds the arithmetic (normalisation, discounts, what counts), `history` when and why a
value changed, `movements` the classification per customer: all pure, tested without I/O.
"""
