"""`test_helpers.test_clock.advancing`: a test clock started moving forward.

Re-reads: the clock; its mirror only moves forward, so a late event cannot turn it back.
Facts: none.
"""

from paywire.events.appliers import refresh_test_clock
from paywire.events.handling import EventHandler
from paywire.stripe import Kind

EVENT_TYPE = "test_helpers.test_clock.advancing"
HANDLER = EventHandler(refresh_test_clock, reads=Kind.TEST_CLOCK)
