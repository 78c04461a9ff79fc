"""The billing tests that check what paywire mails do it through a real SMTP server."""

from tests.paywire.mailbox import mailbox  # noqa: F401 - the fixture
