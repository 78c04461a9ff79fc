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
