"""The billing engine: what Stripe does with subscriptions, invoices and payments, without HTTP.

Modules build on each other in one direction (the order is the `stripesim-billing-layers`
contract in `.importlinter`). Where a lower module has to let a higher one react, it calls
hooks that the higher one registers when it is imported: a payment's outcome settles its
invoice (`payments.ON_SUCCEEDED`, …), an invoice's outcome moves its subscription's status
(`invoices.ON_PAID`, …), a canceled subscription ends its schedule (`cancellation.ON_CANCELED`).
Work that time makes due registers `engine.timer`s the same way. The app imports every module,
so nothing that registers is ever left out.
"""
