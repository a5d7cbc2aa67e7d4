"""The list of piccolo tables, one import per bounded context (used by migrations and binding)."""

from __future__ import annotations

from piccolo.table import Table

from domain.accounts.tables import RefreshToken, User
from domain.catalog.tables import Author, Book, BookAuthor, BookChapter, BookSubject, Subject
from domain.failed_jobs_table import FailedJobRow
from domain.feeds.tables import Activity
from domain.notifications.tables import NOTIFICATION_TABLES
from domain.sessions.tables import SESSION_TABLES
from domain.social.tables import Block, Follow, Mute

TABLES: list[type[Table]] = [
    User, RefreshToken,  # accounts
    Follow, Block, Mute,  # social
    Book, Author, BookAuthor, Subject, BookSubject, BookChapter,  # catalog
    *SESSION_TABLES,  # co-reading sessions
    *NOTIFICATION_TABLES, Activity, FailedJobRow,  # notifications, feeds, worker
]
