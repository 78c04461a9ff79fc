"""The lifecycle's states, transitions and access rules, without Stripe or a database."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from paywire.billing.lifecycle import (
    ACCESS_STATES,
    TRANSITIONS,
    LifecycleState,
    Operation,
    OperationRefused,
    StripeTrigger,
    SubscriptionFacts,
    access,
    allowed,
    reachable,
    require,
    state_of,
)

S = LifecycleState
END = 2_000_000_000


def facts(status: str, **kwargs: object) -> SubscriptionFacts:
    return SubscriptionFacts(status=status, plan="pro", current_period_end=END, **kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("given_facts", "state"),
    [
        (facts("active"), S.ACTIVE),
        (facts("trialing"), S.TRIALING),
        (facts("active", cancel_at_period_end=True), S.CANCEL_PENDING),
        (facts("trialing", cancel_at=END - 5), S.CANCEL_PENDING),
        (facts("past_due"), S.PAST_DUE),
        (facts("past_due", cancel_at_period_end=True), S.PAST_DUE),
        (facts("paused"), S.PAUSED),
        (facts("active", collection_paused=True), S.PAUSED),
        (facts("unpaid"), S.UNPAID),
        (facts("canceled"), S.CANCELED),
        (facts("canceled", collection_paused=True), S.CANCELED),
        (facts("incomplete"), S.INCOMPLETE),
        (facts("incomplete_expired"), S.INCOMPLETE),
        (facts("something_new"), S.UNKNOWN),
    ],
)
def test_states(given_facts: SubscriptionFacts, state: LifecycleState) -> None:
    assert state_of(given_facts) is state


def test_what_each_state_allows() -> None:
    assert allowed(S.ACTIVE, Operation.CHANGE_PLAN) and allowed(S.TRIALING, Operation.CHANGE_PLAN)
    for state in (S.CANCEL_PENDING, S.PAST_DUE, S.PAUSED, S.UNPAID, S.CANCELED, S.INCOMPLETE):
        assert not allowed(state, Operation.CHANGE_PLAN), state
    assert {s for s in S if allowed(s, Operation.REACTIVATE)} == {S.CANCEL_PENDING}
    assert {s for s in S if allowed(s, Operation.UNPAUSE)} == {S.PAUSED}
    assert {s for s in S if allowed(s, Operation.PAUSE)} == {S.ACTIVE, S.TRIALING}
    # Canceled is terminal: nothing, not even Stripe, moves it.
    assert not [key for key in TRANSITIONS if key[0] is S.CANCELED]
    assert reachable(S.CANCELED) == {S.CANCELED}


@pytest.mark.parametrize(
    ("given_facts", "operation", "words"),
    [
        (facts("active", cancel_at_period_end=True), Operation.CANCEL, "already set to cancel"),
        (facts("active"), Operation.REACTIVATE, "nothing to reactivate"),
        (facts("active"), Operation.UNPAUSE, "not paused"),
        (facts("canceled"), Operation.CHANGE_PLAN, "has ended"),
        (facts("paused"), Operation.CHANGE_PLAN, "paused"),
        (facts("past_due"), Operation.CHANGE_PLAN, "payment failed"),
    ],
)
def test_refusals_say_why(given_facts: SubscriptionFacts, operation: Operation, words: str) -> None:
    with pytest.raises(OperationRefused) as refused:
        require(given_facts, operation)
    assert words in refused.value.message
    assert refused.value.code == "not_allowed_in_state" and refused.value.details["state"] == state_of(given_facts)


def test_stripe_moves_an_active_subscription_only_where_the_table_says() -> None:
    assert reachable(S.ACTIVE) == {S.ACTIVE, S.PAST_DUE, S.CANCELED, S.UNPAID}
    assert S.PAUSED not in reachable(S.ACTIVE)  # only the user pauses
    assert reachable(S.CANCEL_PENDING) == {S.CANCEL_PENDING, S.CANCELED}
    assert reachable(S.PAUSED) == {S.PAUSED}  # a paused subscription waits for the user
    assert S.ACTIVE in reachable(S.TRIALING, frozenset({StripeTrigger.TRIAL_ENDS}))


@given(
    status=st.sampled_from(["active", "trialing", "past_due", "paused", "unpaid", "canceled", "incomplete"]),
    cancel=st.booleans(),
    cancel_at=st.one_of(st.none(), st.integers(END - 100, END + 100)),
    paused_collection=st.booleans(),
    now=st.integers(END - 1000, END + 1000),
    grace=st.integers(0, 500),
)
def test_access_follows_the_state(
    status: str, cancel: bool, cancel_at: int | None, paused_collection: bool, now: int, grace: int
) -> None:
    subject = facts(status, cancel_at_period_end=cancel, cancel_at=cancel_at, collection_paused=paused_collection)
    verdict = access(subject, now, grace)
    state = state_of(subject)
    if verdict.access:
        assert state in ACCESS_STATES
    if state in (S.ACTIVE, S.TRIALING):
        assert verdict.access
    if state is S.CANCEL_PENDING:
        assert verdict.access == (now < min(x for x in (END if cancel else None, cancel_at) if x is not None))
    if state in (S.PAUSED, S.UNPAID, S.CANCELED, S.INCOMPLETE):
        assert not verdict.access
