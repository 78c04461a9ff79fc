"""Reactions: what the product does once per business fact (emails today).

The mirror and the events pipeline write facts (`paywire.outbox.Fact`) into the outbox in
the same transaction as the mirror change they follow from; the dispatcher (`dispatcher.Dispatcher`) delivers
each outbox row to the reactions registered for its kind (`registry.Registry`), at least
once, and each reaction is recorded once per fact in `reaction_log`, so a retried delivery
does not repeat what already happened.
"""
