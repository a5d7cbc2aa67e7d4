"""Email: building notification and digest messages (plain + HTML) and sending them over SMTP."""

from __future__ import annotations

import html
from email.message import EmailMessage
from email.utils import make_msgid

import aiosmtplib

from domain.notifications.tokens import ALL, make_unsubscribe_token
from domain.settings import Settings

UNSUBSCRIBE_PATH = "/api/v1/notifications/unsubscribe"


def unsubscribe_url(settings: Settings, user_id: int, type_name: str = ALL) -> str:
    token = make_unsubscribe_token(settings.secret_key, user_id, type_name)
    return f"{settings.public_url.rstrip('/')}{UNSUBSCRIBE_PATH}?token={token}"


def build_message(settings: Settings, *, to: str, subject: str, lines: list[str],
                  user_id: int, type_name: str = ALL) -> EmailMessage:
    """One message with a plain-text and an HTML part and one-click unsubscribe headers."""
    unsub = unsubscribe_url(settings, user_id, type_name)
    what = "these emails" if type_name == ALL else f"“{type_name.replace('_', ' ')}” emails"
    app = f"{settings.public_url.rstrip('/')}/app/"
    msg = EmailMessage()
    msg["From"] = settings.mail_from
    msg["To"] = to
    msg["Subject"] = " ".join(subject.split())[:200]  # one line, whatever the payload held
    msg["Message-ID"] = make_msgid(domain="readalong.local")
    msg["List-Unsubscribe"] = f"<{unsub}>"
    msg["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    text = "\n".join(f"- {line}" if len(lines) > 1 else line for line in lines)
    msg.set_content(f"{text}\n\nOpen Readalong: {app}\n\nUnsubscribe from {what}: {unsub}\n")
    items = "".join(f"<li>{html.escape(line)}</li>" for line in lines)
    msg.add_alternative(
        f"<!doctype html><html><body><ul>{items}</ul>"
        f'<p><a href="{html.escape(app)}">Open Readalong</a></p>'
        f'<p style="font-size:small"><a href="{html.escape(unsub)}">Unsubscribe from '
        f"{html.escape(what)}</a></p></body></html>", subtype="html")
    return msg


async def send(settings: Settings, msg: EmailMessage) -> None:
    """Send over SMTP; errors propagate (4xx and connection errors are retried by the task)."""
    await aiosmtplib.send(
        msg, hostname=settings.smtp_host, port=settings.smtp_port, timeout=15,
        use_tls=settings.smtp_security == "tls", start_tls=settings.smtp_security == "starttls",
        username=settings.smtp_username or None, password=settings.smtp_password or None)
