"""The engine's JSON columns (`paywire.db.engine`): written by orjson, with what `json.dumps`
would write for what orjson refuses, and read back the same on each database. (Reading is
orjson's too, which reads an integer beyond 64 bits as a float; Stripe sends none.)"""

from __future__ import annotations

import json
from typing import Any

import pytest
from sqlalchemy import String, cast, select
from sqlalchemy.orm import Session

from paywire.db.engine import json_bytes, json_text
from paywire.db.models import OutboxFact

VALUES: list[Any] = [
    {"id": "sub_1", "items": {"data": [{"price": {"unit_amount": 1500}}]}, "metadata": {}, "note": "é ✓"},
    {"big": 2**70 + 1},  # beyond 64 bits: orjson refuses it, json.dumps writes it
    {"1": "a", "2": None},
    [1, 2.5, True, None],
]


@pytest.mark.parametrize("value", VALUES)
def test_json_is_what_json_dumps_means(value: Any) -> None:
    assert json.loads(json_bytes(value)) == value
    assert json.loads(json_text(value)) == value
    assert isinstance(json_text(value), str)


def test_keys_that_are_not_text_are_written_as_json_dumps_writes_them() -> None:
    assert json.loads(json_bytes({1: "a"})) == json.loads(json.dumps({1: "a"})) == {"1": "a"}


def test_json_columns_come_back_as_written(session: Session) -> None:
    # A JSON column (a fact's payload): the first value above, then one only json.dumps can write.
    for key, value in (("json", VALUES[0]), ("big", VALUES[1])):
        session.add(OutboxFact(dedup_key=key, kind="test", payload=value, state="pending", attempts=0))
    session.commit()
    session.expire_all()
    assert session.scalar(select(OutboxFact.payload).where(OutboxFact.dedup_key == "json")) == VALUES[0]
    stored = session.scalar(select(cast(OutboxFact.payload, String)).where(OutboxFact.dedup_key == "big"))
    assert json.loads(stored) == VALUES[1], "written exactly, digit for digit"
