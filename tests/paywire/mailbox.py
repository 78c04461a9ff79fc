"""A real SMTP server (aiosmtpd) for the tests that check what paywire mails."""

from __future__ import annotations

import email
import email.policy
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from tests.support.processes import free_port


@dataclass
class Mailbox:
    """What the SMTP server received, in order of arrival (`raw`: every message whole)."""

    port: int
    messages: list[dict[str, str]] = field(default_factory=list)
    raw: list[EmailMessage] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        with self.lock:
            self.raw.append(message)
            self.messages.append(
                {
                    "to": str(message["To"]),
                    "subject": str(message["Subject"]),
                    "id": str(message["Message-ID"]),
                    "notice": str(message.get("X-Paywire-Notice", "")),
                    "attempt": str(message.get("X-Paywire-Attempt", "")),
                }
            )
        return "250 OK"

    def settings(self) -> dict[str, str | int]:
        """paywire's settings that send its mail here."""
        return {"PAYWIRE_EMAIL_BACKEND": "smtp", "PAYWIRE_SMTP_HOST": "127.0.0.1", "PAYWIRE_SMTP_PORT": self.port}

    def subjects_to(self, address: str) -> list[str]:
        with self.lock:
            return sorted(m["subject"] for m in self.messages if m["to"] == address)

    def received_by(self, address: str) -> list[dict[str, str]]:
        """One entry per Message-ID (a repeat is what a receiving system drops), first arrival
        first."""
        seen: dict[str, dict[str, str]] = {}
        with self.lock:
            for message in self.messages:
                if message["to"] == address:
                    seen.setdefault(message["id"], message)
        return list(seen.values())

    def text_of(self, message_id: str) -> str:
        with self.lock:
            for message in self.raw:
                if str(message["Message-ID"]) == message_id:
                    body = message.get_body(preferencelist=("plain",))
                    return str(body.get_content()) if body is not None else ""
        raise KeyError(message_id)


def parts_of(message: EmailMessage) -> list[str]:
    """The content types of a message's leaf parts."""
    return [part.get_content_type() for part in message.walk() if not part.is_multipart()]


@pytest.fixture
def mailbox() -> Iterator[Mailbox]:
    box = Mailbox(free_port())
    controller = Controller(box, hostname="127.0.0.1", port=box.port)
    controller.start()
    yield box
    controller.stop()
