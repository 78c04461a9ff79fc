"""The mirror: the one writer of Stripe's state into paywire's database.

Whoever learns that Stripe changed (the events worker, a lifecycle operation that just
changed a subscription, `paywire sync`) writes through here, so every writer obeys one rule.

The version rule (`stripe_version` on subscriptions, invoices and schedules): the time, in
microseconds since the epoch, at which the read from Stripe *started*. A snapshot is written
only if its version is at least the stored one, in the write itself (one upsert statement
that inserts, overwrites an older read, or leaves a newer one). Why this converges: every
change in Stripe emits an event after it happens, and the event's re-read starts after it,
so the read that starts last sees the last change and carries the largest version. A slow
read that started earlier but commits later (another worker, a retry) is dropped instead of
overwriting newer state. Event `created` cannot serve: it has one-second ties, and under a
test clock it is the clock's time, not an order.

No needless re-read (`versions.covers`): when the mirror already holds a read that started
after every event of a group was *received*, the group is done without asking Stripe again.
Stripe sends an event only after the change it reports, and paywire stores it after that
(`received_at`, its own clock), so a read that started later saw that change or a newer
state. The only assumption is that the clocks of paywire's hosts agree within
`PAYWIRE_WORKER_CLOCK_SKEW`; the version rule already relies on the same clocks.

Payloads (`payloads`): an event's own `data.object` is written, instead of a re-read, when it
is provably the newest state of its object: its `created` is after where the stored state
stands in the object's own time (`stripe_time_from/to`: a test clock's time, or Stripe's), or
it is further along (an invoice's status transitions, a canceled subscription), and no event
handled with it is newer. An older payload arriving after a newer state is never written;
anything uncertain is re-read. Such a row's `stripe_version` is when it was written, so a read
that started before cannot overwrite it, and it is written only over the row its decision saw.
A read that loses to one is made again (`refresh.save_read`): which of the two is newer is not
known, and a read started after the payload was written is newer than both.

Pages (`bulk`): `paywire sync` writes a list page of subscriptions or invoices at once, under
the same rule and with the same rows, items, facts and revenue rows as one by one, in a few
statements per page instead of a dozen per object.

Facts: every write of a subscription records the business facts its state shows (access
granted, canceled) into the outbox, in the same transaction, so a fact exists exactly when
the mirror change that shows it committed, whoever wrote it.
"""

from paywire.mirror.context import MirrorContext
from paywire.mirror.reads import LiveReads, Snapshot, StripeReads
from paywire.mirror.versions import covers, read_version

__all__ = ["LiveReads", "MirrorContext", "Snapshot", "StripeReads", "covers", "read_version"]
