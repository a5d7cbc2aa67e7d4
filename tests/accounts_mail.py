"""Test helpers for the accounts tests: a module-long local SMTP server and link parsing."""

from __future__ import annotations

import re
from collections.abc import Iterator
from email.message import EmailMessage
from typing import Any

from aiosmtpd.controller import Controller

from tests.support import eventually, free_port
from tests.worker_helpers import MailBox, body_of

TOKEN_RE = re.compile(r"[?&]token=([A-Za-z0-9_\-]+)")


def running_smtp() -> Iterator[tuple[MailBox, int]]:
    """A real SMTP server (aiosmtpd) on 127.0.0.1 for as long as the generator is open."""
    box = MailBox()
    port = free_port()
    controller = Controller(box, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield box, port
    finally:
        controller.stop()


async def mail_to(box: MailBox, address: str, subject_has: str, n: int = 1,
                  timeout: float = 15.0) -> list[EmailMessage]:
    """Wait until `address` got `n` messages whose subject contains `subject_has`."""
    async def got() -> list[EmailMessage] | None:
        found = [m for m in box.to(address) if subject_has in str(m["Subject"])]
        return found if len(found) >= n else None
    result: Any = await eventually(got, timeout=timeout)
    return result  # type: ignore[no-any-return]


def token_in(msg: EmailMessage) -> str:
    match = TOKEN_RE.search(body_of(msg))
    assert match, body_of(msg)
    return match.group(1)
