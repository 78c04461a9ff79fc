"""The Stripe reads of one claimed batch: made in parallel before its transaction, each once.

The worker claims a batch of events about several objects, then processes them in one
database transaction. The re-reads they need are network waits (a round trip each to
Stripe), so they are made *before* that transaction, concurrently, on a small thread pool
(PAYWIRE_WORKER_REREAD_THREADS); the handlers then find them here (`BatchReads` is the
mirror's `StripeReads` for the batch) instead of asking Stripe one after the other while
holding the transaction open.

Why a read made before the handler runs is as good as one made inside it: every read here
starts after the batch was claimed, so after every claimed event was stored, hence after
the Stripe change each event announces. Each read carries the time it *started* (the
mirror's version rule), measured just before its request left, so two groups of a batch
that need the same object (a `checkout.session.completed` and the subscription's own
`customer.subscription.created`) share one read with its true version.

A read that failed (Stripe down, not found) is kept as its error: the handler that needs it
gets the same exception it would have got asking itself, so a batch retried group by group
after a failure does not ask Stripe again. Reads the handlers make that were not foreseen
(a test clock, a customer) go through `read` too and are kept for the rest of the batch.
"""

from __future__ import annotations

from collections.abc import Iterable
from concurrent.futures import Executor
from dataclasses import dataclass

from paywire.events.handling import ReadKey
from paywire.mirror import Snapshot, read_version
from paywire.mirror.payloads import Mark
from paywire.mirror.reads import timed_read
from paywire.stripe import Kind, StripeGateway


@dataclass(frozen=True)
class Read:
    version: int  # when the read started (µs since the epoch)
    found: Snapshot | None = None
    error: BaseException | None = None

    def result(self) -> Snapshot:
        if self.error is not None:
            raise self.error
        assert self.found is not None
        return self.found


class BatchReads:
    """Reads of one batch, by (kind, id). `prefetch` makes the foreseen ones in parallel;
    `read` returns a kept read or makes it now. Also holds what the batch found stored before
    reading (`stored`, by table and id: `paywire.mirror.payloads.Mark`), for the mirror's
    decisions."""

    def __init__(self, gateway: StripeGateway, executor: Executor | None = None) -> None:
        self.gateway = gateway
        self.executor = executor
        self._reads: dict[ReadKey, Read] = {}
        self.stored: dict[tuple[str, str], Mark | None] = {}
        self.made = 0  # requests sent to Stripe for this batch

    def _read(self, read_key: ReadKey) -> Read:
        kind, object_id = read_key
        version = read_version()
        self.made += 1
        try:
            found = timed_read(self.gateway, kind, object_id)
        except Exception as exc:  # kept, raised to the handler that needs it
            return Read(version, error=exc)
        return Read(found.version, found=found)

    def prefetch(self, keys: Iterable[ReadKey]) -> None:
        """Make these reads now, concurrently (those not made yet), and wait for them."""
        wanted = list(dict.fromkeys(k for k in keys if k not in self._reads))
        if not wanted:
            return
        if self.executor is None or len(wanted) == 1:
            for read_key in wanted:
                self._reads[read_key] = self._read(read_key)
            return
        for read_key, read in zip(wanted, self.executor.map(self._read, wanted), strict=True):
            self._reads[read_key] = read

    def read(self, kind: Kind, object_id: str) -> Snapshot:
        """The batch's read of it, made now if not yet. Raises what the read raised."""
        found = self._reads.get((kind, object_id))
        if found is None:
            found = self._reads[(kind, object_id)] = self._read((kind, object_id))
        return found.result()

    def again(self, kind: Kind, object_id: str) -> Snapshot:
        """A read made now, kept for the rest of the batch in place of the earlier one."""
        found = self._reads[(kind, object_id)] = self._read((kind, object_id))
        return found.result()

    def has(self, kind: Kind, object_id: str) -> bool:
        return (kind, object_id) in self._reads
