"""What the commands share: the batch commands' garbage collection."""

from __future__ import annotations

import subprocess
import sys

from paywire.cli.common import BATCH_GC_THRESHOLD

PROBE = """
import gc
from paywire.cli.common import collect_garbage_for_batches
before = gc.get_freeze_count()
collect_garbage_for_batches()
print(before, gc.get_freeze_count(), *gc.get_threshold())
"""


def test_a_batch_command_sets_what_is_loaded_aside_and_collects_the_young_less_often() -> None:
    # In a process of its own: the test run's collector is left as it is.
    out = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, check=True, timeout=60)
    before, frozen, *threshold = map(int, out.stdout.split())
    assert before == 0 and frozen > 10_000, "the imported modules' objects are out of the collector's sight"
    assert tuple(threshold) == BATCH_GC_THRESHOLD and BATCH_GC_THRESHOLD[0] > 700
