"""The events of each billing flow, in order, are the ones src/stripesim/README.md's table lists."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.stripesim.event_flows import FLOWS
from tests.support.stripesim import Sim

TABLE = Path(__file__).resolve().parents[2] / "src" / "stripesim" / "README.md"
ROW = re.compile(r"^\| `(?P<flow>[a-z_]+)` \| [^|]+ \| (?P<events>.+) \|$")


def documented() -> dict[str, list[str]]:
    rows = {}
    for line in TABLE.read_text().splitlines():
        found = ROW.match(line)
        if found:
            rows[found["flow"]] = [e.strip().strip("`") for e in found["events"].split("→")]
    return rows


def test_the_table_has_a_row_for_every_flow() -> None:
    assert sorted(documented()) == sorted(FLOWS)


@pytest.mark.parametrize("flow", sorted(FLOWS))
def test_events_come_in_the_documented_order(flow: str, sim: Sim) -> None:
    assert FLOWS[flow](sim.client(), sim) == documented()[flow]
