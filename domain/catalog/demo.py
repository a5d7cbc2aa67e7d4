"""The demo catalog: public-domain classics plus deterministic generated books, bulk-loaded."""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from domain.catalog.isbn import isbn13_to_10, make_isbn13
from domain.catalog.rules import title_key
from domain.catalog.store import REFRESH_SEARCH
from domain.db import Database

SEED = 20261123

# (title, author, year, ISBN-13 of a common paperback edition, subjects, chapters)
CLASSICS: list[tuple[str, str, int, str, tuple[str, ...], int]] = [
    ("Pride and Prejudice", "Jane Austen", 1813, "9780141439518", ("Classics", "Romance"), 61),
    ("Moby-Dick", "Herman Melville", 1851, "9780142437247", ("Classics", "Adventure"), 40),
    ("Frankenstein", "Mary Shelley", 1818, "9780141439471", ("Classics", "Horror",
                                                              "Science Fiction"), 24),
    ("Jane Eyre", "Charlotte Brontë", 1847, "9780141441146", ("Classics", "Romance"), 38),
    ("Dracula", "Bram Stoker", 1897, "9780141439846", ("Classics", "Horror"), 27),
    ("Great Expectations", "Charles Dickens", 1861, "9780141439563", ("Classics",), 40),
    ("Wuthering Heights", "Emily Brontë", 1847, "9780141439556", ("Classics", "Romance"), 34),
    ("Alice's Adventures in Wonderland", "Lewis Carroll", 1865, "9780141439761",
     ("Classics", "Fantasy", "Children"), 12),
    ("War and Peace", "Leo Tolstoy", 1869, "9781400079988", ("Classics", "History"), 40),
    ("Crime and Punishment", "Fyodor Dostoevsky", 1866, "9780140449136",
     ("Classics", "Philosophy"), 40),
    ("The Odyssey", "Homer", 1614, "9780140268867", ("Classics", "Poetry", "Adventure"), 24),
    ("Emma", "Jane Austen", 1815, "9780141439587", ("Classics", "Romance"), 40),
    ("Sense and Sensibility", "Jane Austen", 1811, "9780141439662", ("Classics", "Romance"), 40),
    ("The Picture of Dorian Gray", "Oscar Wilde", 1890, "9780141439570",
     ("Classics", "Philosophy"), 20),
    ("Heart of Darkness", "Joseph Conrad", 1899, "9780141441672", ("Classics", "Adventure"), 8),
    ("A Tale of Two Cities", "Charles Dickens", 1859, "9780141439600",
     ("Classics", "History"), 40),
]

# One line each, so that search by meaning (domain/ai/) has something to read about a classic.
CLASSIC_BLURBS: dict[str, str] = {
    "Pride and Prejudice": "Elizabeth Bennet spars with the proud Mr Darcy while her mother "
                           "schemes to marry off five daughters in Regency England.",
    "Moby-Dick": "Captain Ahab drives the crew of the Pequod across the oceans in an obsessive "
                 "hunt for the white whale that took his leg.",
    "Frankenstein": "A young scientist builds a living creature from dead bodies and is pursued "
                    "by the monster he abandons.",
    "Jane Eyre": "An orphaned governess falls in love with her brooding employer, Mr Rochester, "
                 "whose house hides a terrible secret.",
    "Dracula": "A Transylvanian count who drinks human blood travels to England, and a small "
               "band hunts the vampire down.",
    "Great Expectations": "Pip, a poor orphan blacksmith's boy, receives a fortune from an "
                          "unknown benefactor and learns what a gentleman is.",
    "Wuthering Heights": "On the Yorkshire moors, the foundling Heathcliff and Catherine "
                         "Earnshaw love and destroy each other across two generations.",
    "Alice's Adventures in Wonderland": "A girl falls down a rabbit hole into a nonsense world "
                                        "of talking animals, a mad tea party and a furious "
                                        "queen.",
    "War and Peace": "Russian aristocratic families live through Napoleon's invasion of Russia, "
                     "the battle of Borodino and the burning of Moscow.",
    "Crime and Punishment": "A destitute student in Saint Petersburg murders a pawnbroker and "
                            "is consumed by guilt while a detective closes in.",
    "The Odyssey": "After the Trojan War, Odysseus spends ten years sailing home to Ithaca "
                   "past monsters, witches and angry gods.",
    "Emma": "A rich, clever young woman meddles in her neighbours' romances in a small English "
            "village and misreads her own heart.",
    "Sense and Sensibility": "Two sisters, one prudent and one passionate, face heartbreak and "
                             "poverty after their father's death.",
    "The Picture of Dorian Gray": "A beautiful young man stays young while his portrait ages "
                                  "and shows every sin of his corrupt life.",
    "Heart of Darkness": "A steamboat captain travels up the Congo river into colonial Africa "
                         "in search of the ivory trader Kurtz.",
    "A Tale of Two Cities": "London and Paris before and during the French Revolution: a "
                            "doctor freed from the Bastille, a trial and the guillotine.",
}

ADJECTIVES = ("Silent", "Crimson", "Hidden", "Last", "Lost", "Golden", "Broken", "Distant",
              "Forgotten", "Burning", "Quiet", "Winter", "Midnight", "Glass", "Iron", "Hollow",
              "Wandering", "Secret", "Bright", "Shattered", "Northern", "Salt", "Paper",
              "Velvet", "Restless", "Amber", "Wild", "Second", "Little", "Endless")
NOUNS = ("River", "Garden", "Lighthouse", "Orchard", "Library", "Mountain", "Harbour",
         "Kingdom", "Letter", "Voyage", "Clockmaker", "Cartographer", "Archive", "Island",
         "Forest", "Station", "Theory", "Machine", "Storm", "Map", "Crown", "Bridge", "Tide",
         "Compass", "Lantern", "Empire", "Circus", "Winter", "Orbit", "Signal", "Bookshop",
         "Alchemist", "Observatory", "Meadow", "Mirror", "Canal", "Glacier", "Falcon")
PLACES = ("Avalon", "the North", "Samarkand", "the Deep", "Lisbon", "the Marsh", "Kyoto",
          "the Valley", "Carthage", "the Stars", "Venice", "the Steppe", "Zanzibar", "Ithaca")
FIRST = ("Ada", "Bruno", "Clara", "Dmitri", "Elena", "Farid", "Greta", "Hiro", "Ines", "Jonas",
         "Kamala", "Luca", "Mira", "Nils", "Olga", "Pablo", "Quinn", "Rosa", "Samir", "Tove",
         "Umberto", "Vera", "Wen", "Ximena", "Yusuf", "Zofia", "Amara", "Björn", "Chiara",
         "Dara", "Emeka", "Freya", "Gideon", "Hana", "Ivo", "Jun", "Kofi", "Lena", "Mateo")
LAST = ("Abernathy", "Bergström", "Castellano", "Dubois", "Eriksen", "Fontaine", "Goldberg",
        "Haddad", "Ishikawa", "Jansen", "Kowalski", "Lindqvist", "Moreau", "Nakamura",
        "Okafor", "Petrov", "Quintero", "Rossi", "Santos", "Tanaka", "Urquhart", "Varga",
        "Whitfield", "Xu", "Yilmaz", "Zimmermann", "Achebe", "Brennan", "Chowdhury", "Delacroix",
        "Esposito", "Fischer", "Gallagher", "Hartmann", "Ibarra", "Jovanović", "Keller")
SUBJECTS = ("Fantasy", "Science Fiction", "Mystery", "Thriller", "Romance", "Historical Fiction",
            "Literary Fiction", "Horror", "Adventure", "Biography", "History", "Philosophy",
            "Poetry", "Travel", "Science", "Nature", "Children", "Young Adult", "Humour",
            "Crime", "Essays", "Mythology", "Art", "Music", "Cooking", "Economics", "Politics")
LANGUAGES = ("en",) * 14 + ("fr", "fr", "de", "de", "es", "es", "it", "pt-BR", "nl", "sv", "ja")
PUBLISHERS = ("Harbourlight Press", "Northwind Books", "Ember & Ash", "Quillstone",
              "Meridian House", "Tallow Street Editions", "Blue Heron Publishing",
              "Lantern Books", "Cobalt Ink", "Old Mill Press")
CHAPTER_WORDS = ("Arrival", "The Letter", "Departure", "A Stranger", "The Storm", "Night Watch",
                 "Confession", "The Map", "Crossing", "Homecoming", "The Bargain", "Fire",
                 "Silence", "The Garden", "Reckoning", "Dawn", "The Trial", "Old Friends",
                 "Echoes", "The Vault", "Flight", "Return", "The Masquerade", "Tides")
BLURBS = ("A sweeping story of {n} and loss, set against the backdrop of {p}.",
          "When a {a} {n} is discovered in {p}, nothing will be the same again.",
          "An intimate portrait of a family, a {n}, and one {a} summer.",
          "Part mystery, part love letter to {p}, this novel follows a {a} {n} across decades.",
          "A {a} and unforgettable journey from {p} to the edge of the known world.")


def _title(rng: random.Random) -> str:
    a, n, n2, p = (rng.choice(ADJECTIVES), rng.choice(NOUNS), rng.choice(NOUNS),
                   rng.choice(PLACES))
    return rng.choice((f"The {a} {n}", f"The {n} of {p}", f"{a} {n}s",
                       f"{'An' if n[0] in 'AEIOU' else 'A'} {n} in {p}",
                       f"The {n}'s {n2}", f"{a} {n} of {p}", f"The {a} {n} and the {n2}"))


def _toc(rng: random.Random, count: int, labels: bool) -> list[tuple[str, float]]:
    weights = [rng.uniform(0.5, 1.5) for _ in range(count)]
    total = sum(weights)
    starts, acc = [], 0.0
    for w in weights:
        starts.append(round(acc / total, 6))
        acc += w
    names = rng.sample(CHAPTER_WORDS, k=min(count, len(CHAPTER_WORDS))) if labels else []
    return [(f"Chapter {i + 1}" + (f": {names[i]}" if i < len(names) else ""), s)
            for i, s in enumerate(starts)]


def generate(count: int, seed: int = SEED, skip_isbns: frozenset[str] = frozenset()
             ) -> Iterator[dict[str, Any]]:
    """`count` plausible books, the classics first; the same seed gives the same books."""
    rng = random.Random(seed)
    used = set(skip_isbns)
    produced = 0
    for title, author, year, isbn13, subjects, chapters in CLASSICS:
        if produced >= count:
            return
        if isbn13 in used:
            continue
        used.add(isbn13)
        produced += 1
        yield {"title": title, "subtitle": None, "authors": [author], "subjects": list(subjects),
               "language": "en", "isbn13": isbn13, "page_count": rng.randint(180, 1200),
               "publisher": "Penguin Classics", "published": str(year), "year": year,
               "description": CLASSIC_BLURBS.get(
                   title, f"{title}, by {author}, first published in {year}."),
               "toc": _toc(rng, chapters, labels=False)}
    while produced < count:
        isbn13 = make_isbn13(rng.choice(("978", "979")) + f"{rng.randrange(10**9):09d}")
        if isbn13 in used:
            continue
        used.add(isbn13)
        produced += 1
        year = rng.randint(1800, 2025)
        authors = [f"{rng.choice(FIRST)} {rng.choice(LAST)}"
                   for _ in range(1 if rng.random() < 0.85 else 2)]
        if len(authors) == 2 and authors[0] == authors[1]:
            authors.pop()
        title = _title(rng)
        noun, adj, place = rng.choice(NOUNS).lower(), rng.choice(ADJECTIVES).lower(), \
            rng.choice(PLACES)
        month = rng.randint(1, 12)
        yield {"title": title,
               "subtitle": rng.choice((None, None, None, "A Novel", "Stories",
                                       f"A Tale of {place}")),
               "authors": authors, "subjects": rng.sample(SUBJECTS, k=rng.randint(1, 3)),
               "language": rng.choice(LANGUAGES), "isbn13": isbn13,
               "page_count": rng.randint(90, 900), "publisher": rng.choice(PUBLISHERS),
               "published": f"{year}-{month:02d}" if rng.random() < 0.6 else str(year),
               "year": year,
               "description": " ".join(rng.choice(BLURBS).format(n=noun, a=adj, p=place)
                                       for _ in range(2)),
               "toc": _toc(rng, rng.randint(8, 40), labels=rng.random() < 0.5)}


async def seed_demo_catalog(db: Database, books: int = 400, only_if_empty: bool = True) -> int:
    """Load `books` demo books in one transaction with COPY; returns how many were added."""
    if books <= 0:
        return 0
    async with db.pool.acquire() as conn, conn.transaction():
        await conn.execute("LOCK TABLE books IN SHARE ROW EXCLUSIVE MODE")
        existing = await conn.fetchval("SELECT count(*) FROM books")
        if only_if_empty and existing:
            return 0
        have = frozenset(r[0] for r in await conn.fetch(
            "SELECT isbn13 FROM books WHERE isbn13 IS NOT NULL"))
        rows = list(generate(books, seed=SEED + existing, skip_isbns=have))
        ids = [r[0] for r in await conn.fetch(
            "SELECT nextval('books_id_seq') FROM generate_series(1, $1)", len(rows))]
        author_ids = await _name_ids(conn, "authors", {a for r in rows for a in r["authors"]})
        subject_ids = await _name_ids(conn, "subjects", {s for r in rows for s in r["subjects"]})
        now = datetime.now(UTC)
        await conn.copy_records_to_table("books", columns=[
            "id", "title", "title_key", "subtitle", "language", "isbn13", "isbn10", "page_count",
            "publisher", "published", "published_year", "description", "version", "created_at",
            "updated_at"], records=[
            (i, r["title"], title_key(r["title"]), r["subtitle"], r["language"], r["isbn13"],
             isbn13_to_10(r["isbn13"]), r["page_count"], r["publisher"], r["published"],
             r["year"], r["description"], 1, now, now) for i, r in zip(ids, rows, strict=False)])
        await conn.copy_records_to_table(
            "book_authors", columns=["book_id", "author_id", "position"],
            records=[(i, author_ids[a.lower()], pos) for i, r in zip(ids, rows, strict=False)
                     for pos, a in enumerate(r["authors"])])
        await conn.copy_records_to_table(
            "book_subjects", columns=["book_id", "subject_id"],
            records=[(i, subject_ids[s.lower()]) for i, r in zip(ids, rows, strict=False)
                     for s in r["subjects"]])
        await conn.copy_records_to_table(
            "book_chapters", columns=["book_id", "position", "title", "start"],
            records=[(i, pos, t, s) for i, r in zip(ids, rows, strict=False)
                     for pos, (t, s) in enumerate(r["toc"])])
        await conn.execute(REFRESH_SEARCH, ids)
    return len(rows)


async def _name_ids(conn: Any, table: str, names: set[str]) -> dict[str, int]:
    """lower(name) -> id for authors or subjects, inserting the missing ones."""
    ordered = sorted(names)
    await conn.execute(f"INSERT INTO {table} (name) SELECT unnest($1::text[]) "
                       "ON CONFLICT ((lower(name))) DO NOTHING", ordered)
    rows = await conn.fetch(f"SELECT id, lower(name) AS k FROM {table} "
                            "WHERE lower(name) = ANY($1::text[])", [n.lower() for n in ordered])
    return {r["k"]: r["id"] for r in rows}
