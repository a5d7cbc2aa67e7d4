"""Relevance search over a bounded candidate set, so that an uncached search stays cheap as the
catalog grows (a 3-letter prefix can match most books through their descriptions).

The order is the documented one: `rank` DESC, then id, where rank = tier + 0.5 * ts_rank(search,
query, 32) and tier = boost (exact title 3, the title starts with the words 2, the words as a
phrase in the title 1) + 0.5 when a word matches the title or an author (`books.search_ta`, the
A and B lexemes of `books.search`, m0028). So the boost tiers come first, then title/author
matches, then description-only (or subject-only) ones, each by ts_rank.

Which books are ranked (`n` = READALONG_SEARCH_CANDIDATES, 300):
- `m`: the first n + 1 matches in id order. A dense query (a common prefix matching many
  books; a probe of the first 1,000 books says) walks the books in id order until it has them
  (~n / density rows); a sparse one asks the GIN index (its matches are few, under 4 % of the
  catalog, so the bitmap and its sort are cheap). When m has at most n books it is every
  match, and the ranking, `total` and the facets are exact.
- otherwise also up to n title/author matches (`t`, found the same way over `search_ta`, the
  index's ones in table order, not sorted) and up
  to n books of each boost tier from their own indexes (exact and starts-with: the title_key
  btree; phrase, for two words or more: the trigram index; a one-word phrase tier is a subset
  of the title matches). Every source is deterministic, so the set - and the cursors - are
  stable while the catalog does not change; pages end with the candidates.
Then `total` is estimated from the density of matches along the ids (n matches up to the n-th
match's id, scaled to the whole id range), the facets count the subjects of the first n
matches scaled the same way, and the response says `estimated: true`. `n` = 0 ranks every
match exactly (as costly as it is).
"""

from __future__ import annotations

from typing import Any

# Boosts added to the [0, 1) relevance, so that they always dominate:
EXACT_TITLE, TITLE_STARTS, TITLE_PHRASE = 3, 2, 1
TITLE_AUTHOR = 0.5
FACET_LIMIT = 25
PROBE, DENSE = 1000, 0.04  # a match is dense when 4 % of the first 1,000 books match
WALK = 50  # x n: the most books walked in id order before the index is asked instead
# the columns a walk reads (what the match and the filters of domain/catalog/search.py use)
_WALKED = "id, search, search_ta, title_key, language, published_year"


def tier_expr(ts: str, phrase: str) -> str:
    q = f"to_tsquery('simple', {ts})"
    return (f"(CASE WHEN b.search_ta @@ {q} THEN {TITLE_AUTHOR} ELSE 0 END + CASE "
            f"WHEN b.title_key = {phrase} THEN {EXACT_TITLE} "
            f"WHEN b.title_key LIKE {phrase} || ' %' THEN {TITLE_STARTS} "
            f"WHEN ' ' || b.title_key || ' ' LIKE '% ' || {phrase} || ' %' THEN {TITLE_PHRASE} "
            "ELSE 0 END)")


def rank_of(tier: str, ts: str) -> str:
    return (f"round(({tier} + {1 - TITLE_AUTHOR} * ts_rank(b.search, "
            f"to_tsquery('simple', {ts}), 32))::numeric, 6)")


def rank_expr(ts: str, phrase: str) -> str:
    """The relevance of book `b` for the tsquery parameter `ts` and the phrase parameter."""
    return rank_of(tier_expr(ts, phrase), ts)


def _first(name: str, vector: str, ts: str, key: str, rest: str, n: int,
           ordered: bool = True) -> str:
    """CTE `name`: the first n + 1 books (id order) whose `vector` matches the tsquery `ts`
    and `rest`. A probe of the first PROBE books says whether the match is dense (at least
    DENSE of them): then the books are walked in id order until n + 1 match (~n / density
    rows); else, or when the walk ends short of them after WALK x n books (matches not spread
    evenly), the GIN index finds the books matching `key` (the query without its short words:
    a common short word's prefix would make the index merge most of the catalog) and each is
    checked against the whole query (ts_match_vq, which the index does not take).
    Not `ordered`: the index's books come in table order and stop at n + 1 (cheaper; still
    deterministic for one state of the table)."""
    cond = f"ts_match_vq({vector}, to_tsquery('simple', {ts})) AND {rest}"
    probe, walk = f"{name}_p", f"{name}_w"
    walked = f"(SELECT {_WALKED} FROM books ORDER BY id LIMIT {{}}) b"
    return (f"{probe} AS MATERIALIZED (SELECT count(*) >= {int(PROBE * DENSE)} AS dense FROM "
            f"{walked.format(PROBE)} WHERE {cond}), "
            f"{walk} AS MATERIALIZED (SELECT b.id FROM {walked.format(WALK * n)} WHERE "
            f"(SELECT dense FROM {probe}) AND {cond} LIMIT {n + 1}), "
            f"{name} AS MATERIALIZED (SELECT id FROM {walk} WHERE (SELECT count(*) FROM {walk})"
            f" > {n} UNION ALL (SELECT b.id FROM books b WHERE (SELECT count(*) FROM {walk}) "
            f"<= {n} AND {vector} @@ to_tsquery('simple', {key}) AND {cond} "
            f"{'ORDER BY b.id + 0 ' if ordered else ''}LIMIT {n + 1}))")


def matches_sql(f: Any, ts: str, n: int, terms: list[str]) -> str:
    """CTE `m`: the first n + 1 books in id order matching the filters `f`
    (domain.catalog.search._Filters, whose first clause is the full-text match of `ts`)."""
    rest = " AND ".join(f.clauses[1:]) or "TRUE"
    return _first("m", "b.search", ts, f.param(_key(terms)), rest, n)


def _key(terms: list[str]) -> str:
    """The tsquery the GIN index is asked: the words of 4 letters or more (a short word's prefix
    - "the", "a" - can expand to most of the catalog), or all of them when none is that long."""
    long = [t for t in terms if len(t) >= 4]
    return " & ".join(f"{t}:*" for t in long or terms)


def candidates_sql(f: Any, ts: str, phrase: str, n: int, terms: list[str]) -> str:
    """CTEs `m` (the first n + 1 matches by id) and `c` (the ids to rank), for the filters `f`
    (domain.catalog.search._Filters) whose first clause is the full-text match of `ts`;
    `terms` are the query's words."""
    where = f.where
    if n <= 0:
        return f"m AS (SELECT b.id FROM books b WHERE {where}), c AS (SELECT id FROM m)"
    rest = " AND ".join(f.clauses[1:]) or "TRUE"
    key = f.param(_key(terms))
    big = f"(SELECT count(*) > {n} FROM m)"
    phrase_tier = (
        f"UNION (SELECT b.id FROM books b WHERE {big} AND ' ' || b.title_key || ' ' LIKE "
        f"'% ' || {phrase} || ' %' AND {where} LIMIT {n}) ") if len(terms) > 1 else ""
    return (
        f"{_first('m', 'b.search', ts, key, rest, n)}, "
        f"{_first('t', 'b.search_ta', ts, key, rest, n, ordered=False)}, "
        "c AS (SELECT id FROM m "
        f"UNION (SELECT id FROM t WHERE {big} LIMIT {n}) "
        f"UNION (SELECT b.id FROM books b WHERE {big} AND b.title_key = {phrase} AND {where} "
        f"LIMIT {n}) "
        f"UNION (SELECT b.id FROM books b WHERE {big} AND b.title_key ~>=~ ({phrase} || ' ') "
        f"AND b.title_key ~<~ ({phrase} || '!') AND {where} LIMIT {n}) {phrase_tier})")


def totals_columns(n: int, facets: bool) -> str:
    """Select-list columns over CTE `m`: hits (at most n + 1 when bounded), last (the n-th
    match's id), lo/hi (the id range) and, with `facets`, the subject facets of the first n."""
    sample = f"(SELECT id FROM m ORDER BY id LIMIT {n})" if n > 0 else "m"
    cols = (f"(SELECT count(*) FROM m) AS hits, (SELECT max(id) FROM {sample} s) AS last, "
            "(SELECT min(id) FROM books) AS lo, (SELECT max(id) FROM books) AS hi")
    if facets:
        f = (f"(SELECT s.name, count(*) AS n FROM {sample} x JOIN book_subjects bs ON "
             "bs.book_id = x.id JOIN subjects s ON s.id = bs.subject_id GROUP BY s.name "
             f"ORDER BY n DESC, lower(s.name) LIMIT {FACET_LIMIT})")
        cols += (f", ARRAY(SELECT name FROM {f} f ORDER BY n DESC, lower(name)) AS names, "
                 f"ARRAY(SELECT n FROM {f} f ORDER BY n DESC, lower(name)) AS counts")
    return cols


def estimate(row: Any, n: int, facets: bool) -> tuple[int, list[str] | None,
                                                       list[int] | None, bool]:
    """(total, facet names, facet counts, estimated) from the `totals_columns` of a row."""
    hits = int(row["hits"])
    names = list(row["names"]) if facets else None
    counts = [int(c) for c in row["counts"]] if facets else None
    if n <= 0 or hits <= n:
        return hits, names, counts, False
    span = int(row["hi"]) - int(row["lo"]) + 1
    seen = max(1, int(row["last"]) - int(row["lo"]) + 1)
    total = max(hits, min(span, round(n * span / seen)))
    if counts is not None:
        counts = [max(1, round(c * total / n)) for c in counts]
    return total, names, counts, True
