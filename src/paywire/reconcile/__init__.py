"""`paywire sync`: the mirror compared with Stripe's lists, object by object, and repaired.

`drift` says what differs (pure), `resources` knows each mirrored resource (customers,
subscriptions, invoices: how to list it, compare it and repair it through the events
pipeline's own writers), `sync` runs the comparison with checkpoints so an interrupted run
continues where it stopped, and `progress` draws the bar.
"""
