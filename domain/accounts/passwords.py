"""argon2id password hashing, run in a worker thread so the event loop never blocks on it."""

from __future__ import annotations

import asyncio
import functools

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from domain.settings import Settings

PARALLELISM = 4


class Passwords:
    """Hashes and verifies with the configured argon2id cost (defaults: RFC 9106 low-memory).

    Hashes carry their own parameters, so a hash made with another cost still verifies;
    `needs_rehash` tells when to upgrade it to the current cost.
    """

    def __init__(self, time_cost: int = 3, memory_kib: int = 65536) -> None:
        self.hasher = PasswordHasher(time_cost=max(1, time_cost),
                                     memory_cost=max(8 * PARALLELISM, memory_kib),
                                     parallelism=PARALLELISM)
        # verified against when the email is unknown, so both paths cost the same
        self.dummy_hash = self.hasher.hash("readalong-dummy-password")

    async def hash(self, password: str) -> str:
        return await asyncio.to_thread(self.hasher.hash, password)

    def _verify(self, stored: str | None, password: str) -> bool:
        try:
            return self.hasher.verify(stored or self.dummy_hash, password) and stored is not None
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False

    async def verify(self, stored: str | None, password: str) -> bool:
        """True when `password` matches `stored`; with `stored=None` costs the same, False."""
        return await asyncio.to_thread(self._verify, stored, password)

    def needs_rehash(self, stored: str) -> bool:
        try:
            return self.hasher.check_needs_rehash(stored)
        except InvalidHashError:
            return True


@functools.lru_cache(maxsize=4)
def _passwords(time_cost: int, memory_kib: int) -> Passwords:
    return Passwords(time_cost, memory_kib)


def passwords_for(settings: Settings | None) -> Passwords:
    """The hasher for these settings (built once per cost; None = the default cost)."""
    if settings is None:
        return _passwords(3, 65536)
    return _passwords(settings.argon2_time_cost, settings.argon2_memory_kib)
