"""Account emails (reset links, verification links, security notices), sent over SMTP.

These are transactional: they ignore notification preferences and the verified-address rule
(a verification link must reach an unverified address). They are sent after the HTTP answer
(a background task), so the answer to "forgot password" takes the same time whether or not
the address is registered. A send that fails (the SMTP server down or answering "try later")
is handed to the worker (`send_account_email`, jobs/accounts.py), which retries it with
backoff for about ten minutes through the worker's resilient path; the queued message is
sealed (Fernet, a key derived from READALONG_SECRET_KEY), so the one-time link in it is not
readable from Redis. Only if Redis is down too is it lost (logged), and the user asks again.
READALONG_ACCOUNT_MAIL_RETRY=0 turns the hand-over off (the default in the test environment).
"""

from __future__ import annotations

import base64
import hashlib
import logging
from email.message import EmailMessage
from email.utils import make_msgid

import aiosmtplib
import msgspec
from cryptography.fernet import Fernet
from redis.asyncio import Redis

from domain.jobqueue import enqueue
from domain.settings import Settings

JOB = "send_account_email"

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


def _fernet(settings: Settings) -> Fernet:
    key = hashlib.sha256(b"readalong-account-mail:" + settings.secret_key.encode()).digest()
    return Fernet(base64.urlsafe_b64encode(key))


def seal(settings: Settings, mail: Mail) -> str:
    return _fernet(settings).encrypt(msgspec.json.encode(mail)).decode()


def unseal(settings: Settings, sealed: str) -> Mail:
    """The message back (InvalidToken when the secret key changed or it was tampered with)."""
    return msgspec.json.decode(_fernet(settings).decrypt(sealed.encode()), type=Mail)


async def send_one(settings: Settings, mail: Mail) -> None:
    """Send over SMTP; errors propagate."""
    await aiosmtplib.send(
        build(settings, mail), hostname=settings.smtp_host, port=settings.smtp_port,
        timeout=15, use_tls=settings.smtp_security == "tls",
        start_tls=settings.smtp_security == "starttls",
        username=settings.smtp_username or None, password=settings.smtp_password or None)


async def _to_worker(settings: Settings, mail: Mail) -> None:
    if not settings.account_mail_retry:
        log.error("account email %r not sent (READALONG_ACCOUNT_MAIL_RETRY=0)", mail.subject)
        return
    if not settings.redis_url:
        log.error("account email %r lost: no Redis to queue its retry", mail.subject)
        return
    # (the job queue's own instance: READALONG_QUEUE_URL, or REDIS_URL)
    redis = Redis.from_url(settings.queue_url or settings.redis_url)
    try:
        await enqueue(redis, JOB, seal(settings, mail))
        log.info("account email %r queued for the worker to retry", mail.subject)
    except Exception:
        log.error("account email %r lost: could not queue its retry", mail.subject,
                  exc_info=True)
    finally:
        await redis.aclose()


async def send_all(settings: Settings, mails: list[Mail]) -> None:
    """Send each message; one that fails goes to the worker to retry (module docstring)."""
    for mail in mails:
        try:
            await send_one(settings, mail)
        except (aiosmtplib.SMTPException, OSError, TimeoutError):
            log.warning("could not send account email %r now; the worker will retry",
                        mail.subject, exc_info=True)
            await _to_worker(settings, mail)
