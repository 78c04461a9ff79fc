"""Two writers mirroring one new subscription schedule at once (an API call and the worker)
both succeed: one row, the newer read kept."""

from __future__ import annotations

import threading
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from paywire.db.models import SubscriptionSchedule
from paywire.mirror import schedules


def schedule(version_tag: str) -> dict[str, Any]:
    return {
        "id": "sub_sched_race",
        "object": "subscription_schedule",
        "subscription": "sub_race",
        "customer": "cus_race",
        "status": "active",
        "end_behavior": "release",
        "current_phase": {"start_date": 1, "end_date": 2},
        "phases": [{"start_date": 1, "end_date": 2, "items": []}],
        "metadata": {"tag": version_tag},
    }


def test_racing_first_writes_of_one_schedule_both_succeed(session_factory: sessionmaker[Session]) -> None:
    first = session_factory()
    schedules.write(first, schedule("older"), version=100)  # uncommitted: holds the row
    errors: list[BaseException] = []

    def second_writer() -> None:
        with session_factory() as second:
            try:
                schedules.write(second, schedule("newer"), version=200)
                second.commit()
            except BaseException as exc:  # the test reports whatever the writer hit
                errors.append(exc)

    thread = threading.Thread(target=second_writer)
    thread.start()
    thread.join(0.5)  # on PostgreSQL the second writer now waits on the first one's row
    first.commit()
    first.close()
    thread.join(30)
    assert not thread.is_alive()
    assert errors == []
    with session_factory() as check:
        rows = check.query(SubscriptionSchedule).all()
        assert len(rows) == 1
        assert rows[0].stripe_version == 200 and rows[0].stripe_object["metadata"]["tag"] == "newer"
