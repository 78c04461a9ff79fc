"""Sending email: an interface and two senders, chosen by configuration.

- `LogEmailSender` (default): writes each message to the log. For development, and for
  products that send their own mail from the outbox.
- `SmtpEmailSender`: SMTP (optionally STARTTLS and login), one connection per message.

SMTP cannot be asked "did you already take this message?", so a dispatcher that dies
between the server's "250 OK" and recording it will send again. Every message therefore
carries a `Message-ID` derived from the fact's key and the reaction: the same fact always
produces the same id, so a receiving system (or a mail provider's API with idempotency
keys) can drop the repeat.
"""

from __future__ import annotations

import hashlib
import logging
import smtplib
import ssl
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Protocol

from paywire.config import Settings

log = logging.getLogger("paywire.reactions.email")


@dataclass(frozen=True)
class Mail:
    to: str
    subject: str
    body: str
    message_id: str  # stable per fact and reaction: the receiver's deduplication key


class EmailSender(Protocol):
    def send(self, mail: Mail) -> None:
        """Hand the message over, or raise (the dispatcher retries with backoff)."""


class LogEmailSender:
    """Writes messages to the log instead of sending them."""

    def send(self, mail: Mail) -> None:
        log.info("email to=%s subject=%r message_id=%s", mail.to, mail.subject, mail.message_id)


@dataclass(frozen=True)
class SmtpEmailSender:
    host: str
    port: int = 25
    sender: str = "billing@localhost"
    username: str | None = None
    password: str | None = None
    starttls: bool = False
    timeout: float = 10.0

    def send(self, mail: Mail) -> None:
        message = EmailMessage()
        message["From"] = self.sender
        message["To"] = mail.to
        message["Subject"] = mail.subject
        message["Message-ID"] = mail.message_id
        message.set_content(mail.body)
        with smtplib.SMTP(self.host, self.port, timeout=self.timeout) as smtp:
            if self.starttls:
                smtp.starttls(context=ssl.create_default_context())
            if self.username:
                smtp.login(self.username, self.password or "")
            smtp.send_message(message)


def message_id(fact_key: str, reaction: str, domain: str = "paywire") -> str:
    """The same for one fact whatever its outbox row: a fact recorded again (its first
    record lost with an unflushed commit in a database crash) still mails the same id."""
    digest = hashlib.sha256(f"{fact_key}\x00{reaction}".encode()).hexdigest()[:32]
    return f"<{digest}.{reaction}@{domain}>"


def sender_from_settings(settings: Settings) -> EmailSender:
    """The sender PAYWIRE_EMAIL_BACKEND names (log by default)."""
    if settings.email_backend == "smtp":
        return SmtpEmailSender(
            host=settings.smtp_host,
            port=settings.smtp_port,
            sender=settings.smtp_sender,
            username=settings.smtp_username,
            password=settings.smtp_password.get_secret_value() if settings.smtp_password else None,
            starttls=settings.smtp_starttls,
        )
    return LogEmailSender()
