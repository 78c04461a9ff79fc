"""The events pipeline: Stripe's webhooks in, a converging mirror out.

- `receiver`: `POST /webhooks/stripe` verifies the signature on the raw body, stores the
  event once in the inbox and answers at once.
- `inbox`: the `webhook_events` table's queries: store, claim (one event per Stripe object
  at a time), finish, retry with backoff, dead-letter, reclaim from crashed workers.
- `worker`: claims events and dispatches each to the handler of its family in `handlers/`,
  which re-reads the object from Stripe and upserts the mirror (`mirror`).
"""
