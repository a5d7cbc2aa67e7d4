"""Streaks and stats from the reading log, in the reader's own time zone.

**What counts as a reading day**: a calendar day, in the reader's current time zone, with at
least one reading_log row that gained ground (`gain > 0`: a progress update, session, club or
sync move forward in the open read, or finishing a book with pages left). Going back, repeating
a place, or only shelving a book does not count. The current streak is the run of consecutive
reading days ending today or yesterday (today still counts until it ends); the longest streak is
the longest run ever. Changing one's time zone re-reads the whole history in the new zone.

**Books** of a year or month are reads finished as `read` with `finished_on` in it (re-reads
count again); **pages** are the pages the reading log gained in it (local time); the average
rating is over the (visible) reviews of those finished reads.
"""

from __future__ import annotations

from collections import Counter
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import msgspec

from domain.errors import Invalid
from domain.reading.clock import local_day, time_zone_of, utcnow

BUCKET_SECONDS = 900  # every UTC offset in use is a multiple of 15 minutes
STREAK_RULE = ("a reading day is a calendar day in your time zone with at least one progress "
               "update that moved you forward in a book (or finished it)")


class Streak(msgspec.Struct, frozen=True):
    current: int
    longest: int
    read_today: bool
    last_reading_day: date | None
    time_zone: str
    rule: str = STREAK_RULE


class SubjectCount(msgspec.Struct, frozen=True):
    name: str
    books: int


class YearStats(msgspec.Struct, frozen=True):
    """One year in charts: `books_by_month[0]` is January."""

    year: int
    time_zone: str
    books: int
    pages: int
    rereads: int
    did_not_finish: int
    books_by_month: list[int]
    pages_by_month: list[int]
    subjects: list[SubjectCount]
    average_days_per_book: float | None
    average_rating: float | None  # of the reviews of the reads finished in the year


class YearTotal(msgspec.Struct, frozen=True):
    year: int
    books: int
    pages: int


class YearsOut(msgspec.Struct, frozen=True):
    time_zone: str
    years: list[YearTotal]


def check_year(year: int) -> int:
    if not 1900 <= year <= 9998:
        raise Invalid("year must be between 1900 and 9998", code="invalid_year", field="year")
    return year


def year_bounds(year: int, tz: ZoneInfo) -> tuple[datetime, datetime]:
    """The instants the local year starts and ends (for range scans on UTC timestamps)."""
    check_year(year)
    start = datetime.combine(date(year, 1, 1), time(), tz)
    end = datetime.combine(date(year + 1, 1, 1), time(), tz)
    return start, end


def runs(days: list[date], today: date) -> tuple[int, int]:
    """(current, longest) streaks of a sorted list of distinct reading days."""
    longest = run = 0
    previous: date | None = None
    for day in days:
        run = run + 1 if previous is not None and day - previous == timedelta(days=1) else 1
        longest = max(longest, run)
        previous = day
    current = run if previous is not None and today - previous <= timedelta(days=1) else 0
    return current, longest


_DAYS_SQL = f"""
SELECT DISTINCT to_timestamp(floor(extract(epoch FROM l.created_at) / {BUCKET_SECONDS})
                             * {BUCKET_SECONDS}) AS bucket
FROM reading_log l JOIN reading_states s ON s.id = l.state_id
WHERE l.user_id = $1 AND l.gain > 0 AND ($2 OR NOT s.private)
"""


async def reading_days(conn: Any, user_id: int, tz: ZoneInfo, *,
                       include_private: bool = True) -> list[date]:
    """Every reading day of a reader, sorted (one query over 15-minute buckets)."""
    rows = await conn.fetch(_DAYS_SQL, user_id, include_private)
    return sorted({local_day(r["bucket"], tz) for r in rows})


async def streak(conn: Any, user_id: int, *, now: datetime | None = None,
                 include_private: bool = True) -> Streak:
    tz = await time_zone_of(conn, user_id)
    today = local_day(now or utcnow(), tz)
    days = await reading_days(conn, user_id, tz, include_private=include_private)
    current, longest = runs(days, today)
    return Streak(current=current, longest=longest, read_today=bool(days) and days[-1] == today,
                  last_reading_day=days[-1] if days else None, time_zone=str(tz))


_PAGES_SQL = f"""
SELECT to_timestamp(floor(extract(epoch FROM l.created_at) / {BUCKET_SECONDS})
                    * {BUCKET_SECONDS}) AS bucket, sum(l.pages) AS pages
FROM reading_log l JOIN reading_states s ON s.id = l.state_id
WHERE l.user_id = $1 AND l.created_at >= $2 AND l.created_at < $3 AND ($4 OR NOT s.private)
GROUP BY 1
"""
_READS_SQL = """
SELECT r.id, r.number, r.outcome, r.started_on, r.finished_on, s.book_id
FROM reading_reads r JOIN reading_states s ON s.id = r.state_id
WHERE s.user_id = $1 AND r.outcome IS NOT NULL AND r.finished_on >= $2 AND r.finished_on < $3
  AND ($4 OR NOT s.private)
"""


async def pages_between(conn: Any, user_id: int, start: datetime, end: datetime, tz: ZoneInfo,
                        *, include_private: bool = True) -> Counter[date]:
    """Pages gained per local day between two instants."""
    out: Counter[date] = Counter()
    for r in await conn.fetch(_PAGES_SQL, user_id, start, end, include_private):
        out[local_day(r["bucket"], tz)] += int(r["pages"])
    return out


async def year_stats(conn: Any, user_id: int, year: int, *,
                     include_private: bool = True) -> YearStats:
    tz = await time_zone_of(conn, user_id)
    start, end = year_bounds(year, tz)
    pages = await pages_between(conn, user_id, start, end, tz, include_private=include_private)
    pages_by_month = [0] * 12
    for day, n in pages.items():
        pages_by_month[day.month - 1] += n
    reads = await conn.fetch(_READS_SQL, user_id, date(year, 1, 1), date(year + 1, 1, 1),
                             include_private)
    finished = [r for r in reads if r["outcome"] == "read"]
    books_by_month = [0] * 12
    for r in finished:
        books_by_month[r["finished_on"].month - 1] += 1
    spans = [(r["finished_on"] - r["started_on"]).days + 1 for r in finished
             if r["started_on"] is not None]
    subjects = await conn.fetch(
        "SELECT sj.name, count(DISTINCT bs.book_id) AS n FROM book_subjects bs"
        " JOIN subjects sj ON sj.id = bs.subject_id WHERE bs.book_id = ANY($1::bigint[])"
        " GROUP BY sj.name ORDER BY n DESC, sj.name LIMIT 20",
        list({int(r["book_id"]) for r in finished}))
    rating = await conn.fetchval(
        "SELECT avg(v.rating_quarters) / 4 FROM reviews v WHERE v.read_id = ANY($1::bigint[])"
        " AND v.rating_quarters IS NOT NULL AND v.hidden_at IS NULL",
        [int(r["id"]) for r in finished])
    return YearStats(
        year=year, time_zone=str(tz), books=len(finished), pages=sum(pages_by_month),
        rereads=sum(1 for r in finished if r["number"] > 1),
        did_not_finish=sum(1 for r in reads if r["outcome"] == "did_not_finish"),
        books_by_month=books_by_month, pages_by_month=pages_by_month,
        subjects=[SubjectCount(name=r["name"], books=int(r["n"])) for r in subjects],
        average_days_per_book=round(sum(spans) / len(spans), 1) if spans else None,
        average_rating=round(float(rating), 2) if rating is not None else None)


async def years(conn: Any, user_id: int, *, include_private: bool = True) -> YearsOut:
    """Books and pages per year, every year with any reading (oldest first)."""
    tz = await time_zone_of(conn, user_id)
    books: Counter[int] = Counter()
    for r in await conn.fetch(
            "SELECT extract(year FROM r.finished_on)::int AS y, count(*) AS n FROM reading_reads r"
            " JOIN reading_states s ON s.id = r.state_id WHERE s.user_id = $1"
            " AND r.outcome = 'read' AND r.finished_on IS NOT NULL AND ($2 OR NOT s.private)"
            " GROUP BY 1", user_id, include_private):
        books[int(r["y"])] += int(r["n"])
    pages: Counter[int] = Counter()
    start = datetime(1900, 1, 1, tzinfo=tz)
    for day, n in (await pages_between(conn, user_id, start, utcnow() + timedelta(days=2), tz,
                                       include_private=include_private)).items():
        pages[day.year] += n
    return YearsOut(time_zone=str(tz), years=[
        YearTotal(year=y, books=books[y], pages=pages[y]) for y in sorted(set(books) | set(pages))])
