"""Sending email: an interface and three senders, chosen by configuration.

- `LogEmailSender` (default): writes each message's headers to the log. For products that
  send their own mail from the outbox.
- `SmtpEmailSender`: SMTP (optionally STARTTLS and login), one connection per message, a
  few quick retries on a dropped connection or a temporary refusal (4xx); past those the
  dispatcher puts the fact back with a backoff.
- `DevMailbox`: keeps each message as an `.eml` file in a folder, for the dev inbox
  (`/dev/mail` under `paywire dev`).

Every message is multipart (plain text and HTML). SMTP cannot be asked "did you already take
this message?", so a dispatcher that dies between the server's "250 OK" and recording it
will send again. Every message therefore carries a `Message-ID` derived from the fact's key
and the reaction: the same fact always produces the same id, so a receiving system (or a
mail provider's API with idempotency keys) can drop the repeat. `X-Paywire-Notice` names the
notice, `X-Paywire-Attempt` the failed attempt a dunning notice is about.
"""

from __future__ import annotations

import hashlib
import logging
import os
import smtplib
import ssl
import time
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import formatdate
from pathlib import Path
from typing import Protocol

from paywire.config import Settings

log = logging.getLogger("paywire.reactions.email")

SMTP_TRIES = 3
SMTP_RETRY_PAUSE = 0.5  # seconds, doubling


@dataclass(frozen=True)
class Mail:
    to: str
    subject: str
    text: str
    html: str
    message_id: str  # stable per fact and reaction: the receiver's deduplication key
    headers: dict[str, str] = field(default_factory=dict)  # X-Paywire-Notice, X-Paywire-Attempt

    def message(self, sender: str) -> EmailMessage:
        """The MIME message: multipart/alternative, plain text first."""
        message = EmailMessage()
        message["From"] = sender
        message["To"] = self.to
        message["Subject"] = self.subject
        message["Message-ID"] = self.message_id
        message["Date"] = formatdate(localtime=False)
        for name, value in self.headers.items():
            message[name] = value
        message.set_content(self.text)
        message.add_alternative(self.html, subtype="html")
        return message


class EmailSender(Protocol):
    def send(self, mail: Mail) -> None:
        """Hand the message over, or raise (the dispatcher retries with backoff)."""


class LogEmailSender:
    """Writes messages to the log instead of sending them."""

    def send(self, mail: Mail) -> None:
        log.info(
            "email to=%s subject=%r message_id=%s %s",
            mail.to,
            mail.subject,
            mail.message_id,
            " ".join(f"{k}={v}" for k, v in mail.headers.items()),
        )


def _temporary(exc: Exception) -> bool:
    if isinstance(exc, smtplib.SMTPResponseException):
        return 400 <= exc.smtp_code < 500
    return isinstance(exc, smtplib.SMTPServerDisconnected | ConnectionError | TimeoutError)


@dataclass(frozen=True)
class SmtpEmailSender:
    host: str
    port: int = 25
    sender: str = "billing@localhost"
    username: str | None = None
    password: str | None = None
    starttls: bool = False
    timeout: float = 10.0
    tries: int = SMTP_TRIES

    def send(self, mail: Mail) -> None:
        message = mail.message(self.sender)
        pause = SMTP_RETRY_PAUSE
        for attempt in range(1, self.tries + 1):
            try:
                self._deliver(message)
                return
            except (smtplib.SMTPException, OSError) as exc:
                if attempt == self.tries or not _temporary(exc):
                    raise
                log.warning("smtp %s:%d: %r; trying again in %.1fs", self.host, self.port, exc, pause)
                time.sleep(pause)
                pause *= 2

    def _deliver(self, message: EmailMessage) -> None:
        with smtplib.SMTP(self.host, self.port, timeout=self.timeout) as smtp:
            if self.starttls:
                smtp.starttls(context=ssl.create_default_context())
            if self.username:
                smtp.login(self.username, self.password or "")
            smtp.send_message(message)


@dataclass(frozen=True)
class DevMailbox:
    """Keeps messages as `.eml` files in `folder` (the dev inbox reads them). The same
    message sent twice is one file (named after its Message-ID)."""

    folder: Path
    sender: str = "billing@localhost"

    def send(self, mail: Mail) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        name = hashlib.sha256(mail.message_id.encode()).hexdigest()[:24]
        final = self.folder / f"{time.time_ns()}-{name}.eml"
        if any(self.folder.glob(f"*-{name}.eml")):
            return
        partial = self.folder / f".{name}.tmp"
        partial.write_bytes(bytes(mail.message(self.sender)))
        os.replace(partial, final)


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
    if settings.email_backend == "dev":
        return DevMailbox(settings.dev_mail_dir, sender=settings.smtp_sender)
    return LogEmailSender()
