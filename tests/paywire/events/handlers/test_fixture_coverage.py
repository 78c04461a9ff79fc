"""Every event type paywire handles has its module, its fixture and its test, all named after
it: a new handler module without a fixture (`tools/capture_event_fixtures.py`) and a test fails
here."""

from __future__ import annotations

import importlib
import json
import pkgutil
from pathlib import Path

import paywire.events.handlers
from paywire.events.handlers import HANDLERS
from paywire.stripe import PINNED_API_VERSION, Kind
from tests.paywire.events.handlers.harness import FIXTURES

HERE = Path(__file__).parent
HELD = {kind.value for kind in Kind} | {"refunds"}


def test_each_handler_module_has_its_fixture_and_its_test() -> None:
    missing = []
    for module_info in pkgutil.iter_modules(paywire.events.handlers.__path__):
        module = importlib.import_module(f"paywire.events.handlers.{module_info.name}")
        fixture = FIXTURES / f"{module.EVENT_TYPE}.json"
        test = HERE / f"test_{module_info.name}.py"
        missing += [str(path.relative_to(HERE.parents[2])) for path in (fixture, test) if not path.is_file()]
    assert missing == []


def test_each_fixture_is_an_event_of_its_handled_type_as_stripe_sends_it() -> None:
    fixtures = sorted(FIXTURES.glob("*.json"))
    assert [path.stem for path in fixtures] == sorted(HANDLERS), "one fixture per handled type, no other"
    for path in fixtures:
        data = json.loads(path.read_text())
        event = data["event"]
        assert (event["type"], event["object"], event["api_version"]) == (path.stem, "event", PINNED_API_VERSION)
        assert set(data["stripe"]) <= HELD, path.name
        for kind, held in data["stripe"].items():
            if kind != "refunds":
                assert all(obj["id"] == object_id for object_id, obj in held.items()), path.name
