"""State.position finds an id's place in its type's list without searching, and stays right as
the list changes (inserts, removals, a replaced list, a loaded state); State.walk reads live
records from a position either way."""

from __future__ import annotations

from stripesim.state import State


def filled(n: int) -> State:
    state = State()
    for i in range(n):
        state.insert({"id": f"cus_{i}", "object": "customer"})
    return state


def places(state: State) -> dict[str, int | None]:
    return {object_id: state.position("customer", object_id) for object_id in state.by_type["customer"]}


def test_positions_follow_inserts_and_removals() -> None:
    state = filled(6)
    assert places(state) == {f"cus_{i}": i for i in range(6)}
    state.insert({"id": "cus_6", "object": "customer"})
    assert state.position("customer", "cus_6") == 6
    state.remove("cus_2")
    state.insert({"id": "cus_7", "object": "customer"})
    assert places(state) == {object_id: i for i, object_id in enumerate(state.by_type["customer"])}
    assert state.position("customer", "cus_2") is None
    assert state.position("customer", "cus_unknown") is None
    assert state.position("invoice", "cus_1") is None


def test_positions_of_a_replaced_or_loaded_list() -> None:
    state = filled(4)
    assert state.position("customer", "cus_3") == 3
    state.by_type["customer"] = ["cus_3", "cus_1"]
    assert state.position("customer", "cus_3") == 0
    assert state.position("customer", "cus_0") is None
    loaded = State()
    loaded.load(filled(3).dump())
    assert loaded.position("customer", "cus_2") == 2


def test_walk_reads_live_records_from_a_position() -> None:
    state = filled(6)
    state.objects["cus_3"]["deleted"] = True
    del state.objects["cus_1"]  # gone from the objects, still named in the list
    ids = [r["id"] for r in state.walk("customer")]
    assert ids == ["cus_5", "cus_4", "cus_2", "cus_0"] == [r["id"] for r in state.all("customer")]
    assert [r["id"] for r in state.walk("customer", 4)] == ["cus_2", "cus_0"]
    assert [r["id"] for r in state.walk("customer", 2, newer=True)] == ["cus_4", "cus_5"]
    assert [r["id"] for r in state.walk("customer", newer=True)] == ["cus_0", "cus_2", "cus_4", "cus_5"]
    assert list(state.walk("customer", 0)) == [] == list(state.walk("customer", 5, newer=True))
    assert list(state.walk("invoice")) == []


def scan_having(state: State, object_type: str, field_name: str, value: str) -> list[str]:
    return [r["id"] for r in state.all(object_type) if r.get(field_name) == value]


def test_having_finds_by_a_field_as_a_scan_would_as_records_come_and_go() -> None:
    state = State()
    for i in range(10):
        state.insert({"id": f"inpay_{i}", "object": "invoice_payment", "invoice": f"in_{i % 3}"})
    assert [r["id"] for r in state.having("invoice_payment", "invoice", "in_1")] == ["inpay_7", "inpay_4", "inpay_1"]
    state.insert({"id": "inpay_10", "object": "invoice_payment", "invoice": "in_1"})  # after the first use
    state.objects["inpay_4"]["deleted"] = True
    state.remove("inpay_7")
    state.insert({"id": "inpay_11", "object": "invoice_payment", "invoice": "in_1"})
    for invoice in ("in_0", "in_1", "in_2", "in_9"):
        found = [r["id"] for r in state.having("invoice_payment", "invoice", invoice)]
        assert found == scan_having(state, "invoice_payment", "invoice", invoice)
    state.by_type["invoice_payment"] = ["inpay_0", "inpay_3"]  # replaced (a reset, a load)
    assert [r["id"] for r in state.having("invoice_payment", "invoice", "in_0")] == ["inpay_3", "inpay_0"]


def test_created_between_finds_the_positions_a_scan_would_whatever_the_order_of_creation() -> None:
    state = State()
    # Events of a test clock (its frozen time) and of real time interleave: `created` is not
    # in the order of insertion.
    created = [100, 5, 100, 7, 101, 5, 300, 6, 99, 101]
    for i, at in enumerate(created):
        state.insert({"id": f"evt_{i}", "object": "event", "created": at})

    def scan(low: int | None, high: int | None) -> list[int]:
        return [i for i, at in enumerate(created) if (low is None or at >= low) and (high is None or at <= high)]

    for low, high in [(None, None), (5, 5), (6, 100), (100, None), (None, 6), (102, 299), (301, None)]:
        assert state.created_between("event", low, high) == scan(low, high), (low, high)
    state.insert({"id": "evt_10", "object": "event", "created": 6})  # after the first use
    created.append(6)
    assert state.created_between("event", 6, 7) == scan(6, 7)
    among = state.created_between("event", 6, 101)
    assert [r["id"] for r in state.walk("event", among=among)] == [f"evt_{i}" for i in reversed(scan(6, 101))]
    assert [r["id"] for r in state.walk("event", 8, among=among)] == ["evt_7", "evt_4", "evt_3", "evt_2", "evt_0"]
    assert [r["id"] for r in state.walk("event", 3, newer=True, among=among)] == [
        "evt_4",
        "evt_7",
        "evt_8",
        "evt_9",
        "evt_10",
    ]
