"""The outbox: business facts recorded with the mirror change that shows them, delivered to
their reactions at least once (`paywire.reactions`). This package owns the `outbox` and
`reaction_log` tables; everyone else records and reads facts through it."""

from paywire.outbox.facts import Fact
from paywire.outbox.store import ClaimedFact, KnownFacts, record

__all__ = ["ClaimedFact", "Fact", "KnownFacts", "record"]
