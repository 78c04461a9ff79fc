"""Routes, timers, renderers and billing hooks register when their module is imported, so a
module the app never imports is a part of the simulator that silently does nothing."""

from __future__ import annotations

import json
import subprocess
import sys

LOADED = """
import json, pkgutil, sys
import stripesim, stripesim.app
every = {m.name for m in pkgutil.walk_packages(stripesim.__path__, "stripesim.")}
print(json.dumps(sorted(every - set(sys.modules))))
"""


def test_the_app_imports_every_module_but_the_command_line() -> None:
    # A fresh interpreter: this one has imported modules for other tests.
    out = subprocess.run([sys.executable, "-c", LOADED], capture_output=True, text=True, check=True).stdout
    assert json.loads(out) == ["stripesim.cli"]
