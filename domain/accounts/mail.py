"""Account emails (reset links, verification links, security notices), sent over SMTP.

These are transactional: they ignore notification preferences and the verified-address rule
(a verification link must reach an unverified address). They are sent after the HTTP answer
(a background task), so the answer to "forgot password" takes the same time whether or not
the address is registered; a failed send is logged, and the user asks again.
"""

from __future__ import annotations

import logging
from email.message import EmailMessage
from email.utils import make_msgid

import aiosmtplib
import msgspec

from domain.settings import Settings

log = logging.getLogger("readalong.accounts")


class Mail(msgspec.Struct, frozen=True):
    """One message to send: recipient, subject and plain-text lines."""

    to: str
    subject: str
    lines: list[str]


def link(settings: Settings, path: str, token: str) -> str:
    """A link into the web client carrying a one-time token (`/app/#/<path>?token=`)."""
    return f"{settings.public_url.rstrip('/')}/app/#/{path}?token={token}"


def build(settings: Settings, mail: Mail) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = settings.mail_from
    msg["To"] = mail.to
    msg["Subject"] = " ".join(mail.subject.split())[:200]
    msg["Message-ID"] = make_msgid(domain="readalong.local")
    msg.set_content("\n\n".join(mail.lines) + "\n\n— Readalong\n")
    return msg


async def send_all(settings: Settings, mails: list[Mail]) -> None:
    """Send each message; a failure is logged and does not stop the others."""
    for mail in mails:
        try:
            await aiosmtplib.send(
                build(settings, mail), hostname=settings.smtp_host, port=settings.smtp_port,
                timeout=15, use_tls=settings.smtp_security == "tls",
                start_tls=settings.smtp_security == "starttls",
                username=settings.smtp_username or None,
                password=settings.smtp_password or None)
        except (aiosmtplib.SMTPException, OSError):
            log.warning("could not send account email %r", mail.subject, exc_info=True)
