"""Sync identities linked to readers, and KOReader documents linked to books.

A document hash (KOReader's partial MD5, or the MD5 of the file name) maps to one catalog book
per reader (`kosync_documents`). The mapping is made from the reader's settings, or starts on
the device: the first PUT of an unknown document on a linked identity records it as *pending*
(book_id NULL) with its progress, and the reader confirms a book for it from their settings.
Linking applies the latest progress already stored. From then on every PUT calls
`domain.reading.progress.advance` (source `sync`, progression = percentage, locator = the
opaque `progress`) in the PUT's transaction.

Linking an identity (proving its username and password from the settings) keeps everything
it stored before and applies it to the documents the reader has linked.
"""

from __future__ import annotations

import hashlib
from typing import Any

import msgspec

from domain.accounts.passwords import Passwords
from domain.errors import Conflict, Invalid, NotFound
from domain.interop import kosync
from domain.interop.kosync import Identity, Progress
from domain.reading.events import ReadingEvent
from domain.reading.progress import Advance, advance, passive_events


class IdentityOut(msgspec.Struct, frozen=True):
    id: int
    username: str
    linked_at: str | None


class DocumentOut(msgspec.Struct, frozen=True):
    document: str
    book_id: int | None
    title: str | None
    pending: bool
    percentage: float | None
    device: str | None
    timestamp: int | None


class KosyncOut(msgspec.Struct, frozen=True):
    identities: list[IdentityOut]
    documents: list[DocumentOut]


class LinkIn(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """An identity's username and the password typed into KOReader (we take its MD5 as the
    client does); `key` instead of `password` gives the MD5 hex directly."""

    username: str = msgspec.field()
    password: str | None = None
    key: str | None = None

    def the_key(self) -> str:
        if (self.password is None) == (self.key is None):
            raise Invalid("give the password or the key", code="invalid_kosync_credentials",
                          field="password")
        if self.key is not None:
            return self.key.lower()
        assert self.password is not None
        return hashlib.md5(self.password.encode()).hexdigest()


def _events(result: Advance) -> list[ReadingEvent]:
    """What a synced move did (`started`, `scored`, and `advanced` when the furthest grew:
    that one moves the reader in their live rooms and pushes their unlocks on every node)."""
    return passive_events([result])


async def _apply(conn: Any, user_id: int, book_id: int, update: Progress) -> Advance:
    progression = min(1.0, max(0.0, update.percentage))
    return await advance(conn, user_id, book_id, progression, "sync", locator=update.progress)


async def on_put(conn: Any, identity: Identity, update: Progress) -> Advance | None:
    """A PUT: store it (last write wins), then move the linked reader's reading state; an
    unknown document of a linked identity becomes a pending document for the reader."""
    await kosync.store_progress(conn, identity, update)
    if identity.user_id is None:
        return None
    known = await conn.fetchrow("SELECT book_id FROM kosync_documents WHERE user_id = $1"
                                " AND document = $2", identity.user_id, update.document)
    if known is None:  # first sight on a device: pending until the reader confirms a book
        await conn.execute("INSERT INTO kosync_documents (user_id, document) VALUES ($1, $2)"
                           " ON CONFLICT DO NOTHING", identity.user_id, update.document)
        return None
    if known["book_id"] is None:
        return None
    return await _apply(conn, identity.user_id, int(known["book_id"]), update)


async def _latest(conn: Any, user_id: int, document: str) -> Progress | None:
    row = await conn.fetchrow(
        "SELECT p.* FROM kosync_progress p JOIN kosync_identities i ON i.id = p.identity_id"
        " WHERE i.user_id = $1 AND p.document = $2 ORDER BY p.timestamp DESC LIMIT 1",
        user_id, document)
    if row is None:
        return None
    return Progress(document=row["document"], progress=row["progress"],
                    percentage=float(row["percentage"]), device=row["device"],
                    device_id=row["device_id"], timestamp=int(row["timestamp"]))


async def link_identity(conn: Any, passwords: Passwords, user_id: int,
                        data: LinkIn) -> list[ReadingEvent]:
    """Link an existing identity by proving it; its stored progress is applied to the reader's
    linked documents, and its other documents become pending ones."""
    try:
        identity = await kosync.authenticate(conn, passwords, data.username, data.the_key())
    except kosync.KosyncError:
        raise Invalid("no sync identity with this username and password",
                      code="kosync_unauthorized", field="password") from None
    if identity.user_id is not None and identity.user_id != user_id:
        raise Conflict("this sync identity is linked to another account",
                       code="kosync_linked_elsewhere")
    await conn.execute("UPDATE kosync_identities SET user_id = $2, linked_at = now()"
                       " WHERE id = $1 AND user_id IS NULL", identity.id, user_id)
    return await _apply_stored(conn, user_id, identity.id)


async def create_linked(conn: Any, passwords: Passwords, user_id: int, data: LinkIn) -> int:
    """A new identity made from the settings, linked at once; 409 when the name is taken."""
    try:
        identity = await kosync.create_identity(conn, passwords, data.username, data.the_key(),
                                                user_id=user_id)
    except kosync.KosyncError as exc:
        if exc.code == 2002:
            raise Conflict("this sync username is taken", code="kosync_username_taken",
                           field="username") from None
        raise Invalid("a username without ':' and a password", code="invalid_kosync_identity",
                      field="username") from None
    return identity.id


async def _apply_stored(conn: Any, user_id: int, identity_id: int) -> list[ReadingEvent]:
    happened: list[ReadingEvent] = []
    rows = await conn.fetch("SELECT document FROM kosync_progress WHERE identity_id = $1"
                            " ORDER BY timestamp", identity_id)
    for row in rows:
        book_id = await conn.fetchval(
            "INSERT INTO kosync_documents (user_id, document) VALUES ($1, $2)"
            " ON CONFLICT (user_id, document) DO UPDATE SET document = EXCLUDED.document"
            " RETURNING book_id", user_id, row["document"])
        latest = await _latest(conn, user_id, row["document"])
        if book_id is not None and latest is not None:
            happened += _events(await _apply(conn, user_id, int(book_id), latest))
    return happened


async def unlink_identity(conn: Any, user_id: int, identity_id: int) -> None:
    """Drop one of the reader's identities (and its stored progress); documents stay linked."""
    deleted = await conn.fetchval("DELETE FROM kosync_identities WHERE id = $1 AND user_id = $2"
                                  " RETURNING id", identity_id, user_id)
    if deleted is None:
        raise NotFound("no such sync identity", code="kosync_identity_not_found")


async def link_document(conn: Any, user_id: int, document: str,
                        book_id: int) -> list[ReadingEvent]:
    """Map `document` to `book_id` for this reader (confirming a pending one) and apply the
    latest progress stored for it."""
    if not kosync.valid_key_field(document, kosync.DOCUMENT_MAX):
        raise Invalid("a document hash without ':'", code="invalid_document", field="document")
    if not await conn.fetchval("SELECT EXISTS (SELECT 1 FROM books WHERE id = $1)", book_id):
        raise NotFound("no such book", code="book_not_found")
    await conn.execute(
        "INSERT INTO kosync_documents (user_id, document, book_id, linked_at)"
        " VALUES ($1, $2, $3, now()) ON CONFLICT (user_id, document)"
        " DO UPDATE SET book_id = EXCLUDED.book_id, linked_at = now()",
        user_id, document, book_id)
    latest = await _latest(conn, user_id, document)
    if latest is None:
        return []
    return _events(await _apply(conn, user_id, book_id, latest))


async def unlink_document(conn: Any, user_id: int, document: str) -> None:
    deleted = await conn.fetchval("DELETE FROM kosync_documents WHERE user_id = $1"
                                  " AND document = $2 RETURNING document", user_id, document)
    if deleted is None:
        raise NotFound("no such document", code="kosync_document_not_found")


async def overview(conn: Any, user_id: int) -> KosyncOut:
    """The reader's identities (never their keys) and documents, pending ones included."""
    idents = await conn.fetch("SELECT id, username, linked_at FROM kosync_identities"
                              " WHERE user_id = $1 ORDER BY id", user_id)
    docs = await conn.fetch(
        "SELECT d.document, d.book_id, b.title, p.percentage, p.device, p.timestamp"
        " FROM kosync_documents d LEFT JOIN books b ON b.id = d.book_id"
        " LEFT JOIN LATERAL (SELECT q.percentage, q.device, q.timestamp FROM kosync_progress q"
        "   JOIN kosync_identities i ON i.id = q.identity_id"
        "   WHERE i.user_id = d.user_id AND q.document = d.document"
        "   ORDER BY q.timestamp DESC LIMIT 1) p ON true"
        " WHERE d.user_id = $1 ORDER BY d.book_id IS NOT NULL, d.first_seen DESC", user_id)
    return KosyncOut(
        identities=[IdentityOut(id=int(r["id"]), username=r["username"],
                                linked_at=r["linked_at"].isoformat() if r["linked_at"] else None)
                    for r in idents],
        documents=[DocumentOut(document=r["document"], book_id=r["book_id"], title=r["title"],
                               pending=r["book_id"] is None, percentage=r["percentage"],
                               device=r["device"], timestamp=r["timestamp"]) for r in docs])


def events_of(result: Advance | None) -> list[ReadingEvent]:
    return _events(result) if result is not None else []
