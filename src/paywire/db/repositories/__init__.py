"""One module per table: the only code that writes SQL for it, named in billing words.

The inbox (`webhook_events`) is owned by `paywire.events`, which claims and works it off.
"""
