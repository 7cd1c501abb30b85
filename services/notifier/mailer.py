"""Building the e-mail (document attached, fixed Message-ID) and handing it to the SMTP server
with aiosmtplib; failures sorted into those worth retrying and those that are final."""

from __future__ import annotations

from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate
from typing import Literal

import aiosmtplib


@dataclass(frozen=True)
class SmtpSettings:
    host: str
    port: int
    security: Literal["none", "starttls", "tls"]
    username: str | None
    password: str | None
    timeout: float
    sender: str


class SendError(Exception):
    def __init__(self, reason: str, permanent: bool) -> None:
        super().__init__(reason)
        self.reason = reason
        self.permanent = permanent


def build_message(
    sender: str,
    recipients: list[str],
    subject: str,
    body: str,
    message_id: str,
    pdf: bytes | None = None,
    filename: str = "",
) -> EmailMessage:
    message = EmailMessage()
    message["From"] = sender
    message["To"] = ", ".join(recipients)
    message["Subject"] = subject
    message["Date"] = formatdate(usegmt=True)
    # The same Message-ID on every attempt: a receiver can drop a copy of a retried send.
    message["Message-ID"] = message_id
    message.set_content(body)
    if pdf is not None:  # a usage alert carries no document
        message.add_attachment(pdf, maintype="application", subtype="pdf", filename=filename)
    return message


async def deliver(message: EmailMessage, recipients: list[str], smtp: SmtpSettings) -> list[str]:
    """Hand the message over; answers the recipients the server accepted (some may be refused
    while others are taken: the message went out to those)."""
    try:
        refused, _ = await aiosmtplib.send(
            message,
            sender=smtp.sender,
            recipients=recipients,
            hostname=smtp.host,
            port=smtp.port,
            username=smtp.username or None,
            password=smtp.password or None,
            use_tls=smtp.security == "tls",
            start_tls=smtp.security == "starttls",
            timeout=smtp.timeout,
        )
    except aiosmtplib.SMTPRecipientsRefused as exc:
        codes = [r.code for r in exc.recipients]
        reason = "; ".join(f"{r.recipient}: {r.code} {r.message}" for r in exc.recipients)
        raise SendError(f"recipients refused: {reason}", all(c >= 500 for c in codes)) from None
    except aiosmtplib.SMTPAuthenticationError as exc:
        raise SendError(f"SMTP login refused: {exc.code} {exc.message}", False) from None
    except aiosmtplib.SMTPResponseException as exc:
        permanent = exc.code >= 500
        raise SendError(f"SMTP server answered {exc.code} {exc.message}", permanent) from None
    except (aiosmtplib.SMTPException, OSError) as exc:
        raise SendError(f"SMTP server unreachable: {type(exc).__name__}: {exc}", False) from None
    return [r for r in recipients if r not in refused]
