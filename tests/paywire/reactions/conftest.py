"""The reactions tests mail through a real SMTP server."""

from tests.paywire.mailbox import mailbox  # noqa: F401 - the fixture
