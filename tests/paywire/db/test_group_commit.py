"""The group-commit machinery on its own, with plain items and a recording writer: batches up
to their size, one writer thread that ends when idle and starts again, a clean stop, and
items refused once the writer is closed."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator

import pytest
from sqlalchemy.exc import IntegrityError, OperationalError

from paywire.db.group_commit import GroupCommit, database_unreachable


class Recorder:
    """A `write_batches` that records each batch; it can be held at a gate to let items pile up."""

    def __init__(self) -> None:
        self.batches: list[list[str]] = []
        self.refused: list[list[str]] = []
        self.runs = 0
        self.gate = threading.Event()
        self.gate.set()
        self.at_gate = threading.Event()
        self.written = threading.Condition()

    def write_batches(self, batches: Iterator[list[str]]) -> None:
        self.runs += 1
        for batch in batches:
            self.at_gate.set()
            self.gate.wait(5)
            with self.written:
                self.batches.append(batch)
                self.written.notify_all()

    def refuse(self, items: list[str]) -> None:
        self.refused.append(items)

    def wait_for(self, count: int) -> None:
        with self.written:
            assert self.written.wait_for(lambda: sum(len(b) for b in self.batches) >= count, 5)


def commits(
    recorder: Recorder, *, max_size: int = 3, idle_seconds: float = 5.0, size_of: Callable[[str], int] | None = None
) -> GroupCommit[str]:
    return GroupCommit(
        recorder.write_batches,
        recorder.refuse,
        name="test-group-commit",
        max_size=max_size,
        idle_seconds=idle_seconds,
        size_of=size_of,
    )


def test_items_waiting_together_are_written_together_up_to_the_batch_size() -> None:
    recorder = Recorder()
    group = commits(recorder)
    recorder.gate.clear()
    group.put("a")
    assert recorder.at_gate.wait(5), "the writer took it alone and waits at the gate"
    for item in "bcdefg":
        group.put(item)
    recorder.gate.set()
    recorder.wait_for(7)
    group.close()

    assert recorder.batches == [["a"], ["b", "c", "d"], ["e", "f", "g"]]


def test_the_size_of_an_item_counts_towards_the_batch_size_and_a_batch_holds_at_least_one() -> None:
    recorder = Recorder()
    group = commits(recorder, max_size=4, size_of=len)
    recorder.gate.clear()
    group.put("x")
    assert recorder.at_gate.wait(5)
    for item in ["aa", "bb", "c", "ddddd", "e"]:
        group.put(item)
    recorder.gate.set()
    recorder.wait_for(6)
    group.close()

    assert recorder.batches == [["x"], ["aa", "bb"], ["c", "ddddd"], ["e"]]


def test_the_idle_writer_gives_its_thread_back_and_the_next_item_starts_another() -> None:
    recorder = Recorder()
    group = commits(recorder, idle_seconds=0.05)
    group.put("a")
    recorder.wait_for(1)
    deadline = time.monotonic() + 5
    while group.running and time.monotonic() < deadline:
        time.sleep(0.01)
    assert not group.running

    group.put("b")
    recorder.wait_for(2)
    group.close()

    assert recorder.batches == [["a"], ["b"]]
    assert recorder.runs == 2, "one thread run each time, ended when idle"


def test_close_writes_what_is_waiting_then_refuses_what_comes_later() -> None:
    recorder = Recorder()
    group = commits(recorder)
    recorder.gate.clear()
    for item in "abcd":
        group.put(item)
    threading.Timer(0.05, recorder.gate.set).start()
    group.close()

    assert [item for batch in recorder.batches for item in batch] == ["a", "b", "c", "d"]
    assert group.closed and not group.running
    assert recorder.refused == []

    group.put("late")
    assert recorder.refused == [["late"]]
    assert not group.running, "a closed writer starts no thread"


@pytest.mark.parametrize(
    ("error", "unreachable"),
    [
        (OperationalError("SELECT 1", {}, Exception("connection refused")), True),
        (IntegrityError("INSERT", {}, Exception("duplicate key")), False),
        (ValueError("a bad row"), False),
    ],
)
def test_database_unreachable_tells_the_database_from_a_row(error: Exception, unreachable: bool) -> None:
    assert database_unreachable(error) is unreachable
