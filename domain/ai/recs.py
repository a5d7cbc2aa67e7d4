"""Recommendation algorithms on plain arrays (no I/O): item-item CF, content, popularity, hybrid.

The database layer (domain/ai/recommend.py) and the offline evaluation (`python -m load
recs-eval`) call the same functions, so the evaluated strategies are the served ones.

Interaction weights come from reading states: finished 1.0, reading 0.7, want-to-read 0.4, did
not finish 0.1, then scaled by the rating when there is one (stars / 5, at least 0.2).
"""

from __future__ import annotations

import hashlib
import math
from collections import defaultdict
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # numpy is imported where it computes: ~120 ms off every process start
    import numpy as np
    import numpy.typing as npt

    Matrix = npt.NDArray[np.float32]

STATUS_WEIGHT = {"read": 1.0, "reading": 0.7, "want_to_read": 0.4, "did_not_finish": 0.1}
# hybrid blend of the strategies' scores, each scaled to [0, 1] first; tuned on the synthetic
# population of `python -m load recs-eval` with another seed (11) than the reported one (7)
BLEND = {"cf": 0.6, "content": 0.1, "popularity": 0.3}
# "for me" adds the sources the evaluation has no data for (people I follow, my clubs, cold
# start); a cold start's own genres (0.7) outrank a book both trending and popular (0.3 + 0.3)
FOR_ME = {**BLEND, "trending": BLEND["popularity"], "social": 0.25, "club": 0.25,
          "subjects": 0.7}


def interaction_weight(status: str, rating_quarters: int | None = None) -> float:
    """How much a reading state says the reader liked the book (0..1)."""
    base = STATUS_WEIGHT.get(status, 0.0)
    if rating_quarters is not None:
        base *= max(0.2, rating_quarters / 20.0)
    return base


def strongest(history: Mapping[int, float], max_history: int) -> list[tuple[int, float]]:
    """A reader's positive interactions, strongest first (ties by id), cut to `max_history`."""
    return sorted(((i, w) for i, w in history.items() if w > 0),
                  key=lambda p: (-p[1], p[0]))[:max_history]


def norms_of(histories: Sequence[Mapping[int, float]],
             max_history: int = 200) -> dict[int, float]:
    """Each book's squared norm over the readers' (cut) histories: the cosine's denominator."""
    norms: dict[int, float] = defaultdict(float)
    for history in histories:
        for i, w in strongest(history, max_history):
            norms[i] += w * w
    return dict(norms)


def _best(near: list[tuple[int, float]], k: int) -> list[tuple[int, float]]:
    return sorted(near, key=lambda p: (-p[1], p[0]))[:k]


def neighbours_from(histories: Sequence[Mapping[int, float]], k: int,
                    max_history: int = 200) -> dict[int, list[tuple[int, float]]]:
    """Item-item cosine from reader histories ({book: weight}), sparse: only co-read pairs are
    counted (cost = sum of |history|^2 per reader, the largest histories cut to their
    `max_history` strongest). Each book's k best neighbours, best first (ties by id)."""
    norms = norms_of(histories, max_history)
    co: dict[tuple[int, int], float] = defaultdict(float)
    for history in histories:
        items = strongest(history, max_history)
        for a, (i, wi) in enumerate(items):
            for j, wj in items[a + 1:]:
                co[(i, j) if i < j else (j, i)] += wi * wj
    per: dict[int, list[tuple[int, float]]] = defaultdict(list)
    for (i, j), dot in co.items():
        sim = dot / math.sqrt(norms[i] * norms[j])
        per[i].append((j, sim))
        per[j].append((i, sim))
    return {i: _best(near, k) for i, near in per.items()}


def neighbours_for(books: set[int], histories: Sequence[Mapping[int, float]],
                   norms: Mapping[int, float], k: int,
                   max_history: int = 200) -> dict[int, list[tuple[int, float]]]:
    """`neighbours_from` for some books only (the incremental update): `histories` must hold
    every reader of each of `books` (in the full pass's order), `norms` every co-read book's
    norm. The same floating-point sums in the same order, so the same lists."""
    dots: dict[int, dict[int, float]] = {i: defaultdict(float) for i in books}
    for history in histories:
        items = strongest(history, max_history)
        for i, wi in items:
            if i in books:
                mine = dots[i]
                for j, wj in items:
                    if j != i:
                        mine[j] += wi * wj
    out: dict[int, list[tuple[int, float]]] = {}
    for i, near in dots.items():
        if near:
            out[i] = _best([(j, dot / math.sqrt(norms[i] * norms[j]))
                            for j, dot in near.items()], k)
    return out


def cf_from_neighbours(history: Mapping[int, float],
                       neighbours: Mapping[int, Sequence[tuple[int, float]]]
                       ) -> dict[int, float]:
    """Item-item CF scores from stored neighbour lists (what the server reads)."""
    scores: dict[int, float] = defaultdict(float)
    for item, weight in history.items():
        for other, sim in neighbours.get(item, ()):
            scores[other] += weight * sim
    return dict(scores)


def content_scores(history: Mapping[int, float], vectors: Matrix) -> npt.NDArray[np.float64]:
    """Content: similarity of each book's (unit) vector to my weighted taste vector."""
    import numpy as np

    if not history:
        return np.zeros(vectors.shape[0], dtype=np.float64)
    taste = np.zeros(vectors.shape[1], dtype=np.float64)
    for item, weight in history.items():
        taste += weight * vectors[item]
    norm = np.linalg.norm(taste)
    if norm == 0:
        return np.zeros(vectors.shape[0], dtype=np.float64)
    return np.asarray(vectors @ (taste / norm), dtype=np.float64)


def _scaled(scores: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    top = float(scores.max()) if scores.size else 0.0
    return scores / top if top > 0 else scores


def blend(parts: Mapping[str, npt.NDArray[np.float64]],
          weights: Mapping[str, float] = BLEND) -> npt.NDArray[np.float64]:
    """The hybrid score: each strategy's scores scaled to [0, 1], then weighted and summed."""
    total: npt.NDArray[np.float64] | None = None
    for name, scores in parts.items():
        part = weights.get(name, 0.0) * _scaled(scores)
        total = part if total is None else total + part
    assert total is not None
    return total


def top_k(scores: npt.NDArray[np.float64], k: int, exclude: Sequence[int] = ()
          ) -> list[int]:
    """The k best item indices by score (ties by index), never an excluded one."""
    import numpy as np

    masked = scores.astype(np.float64, copy=True)
    if len(exclude):
        masked[list(exclude)] = -np.inf
    order = np.lexsort((np.arange(masked.shape[0]), -masked))
    return [int(i) for i in order[:k] if np.isfinite(masked[i])]


def confidence(score: float) -> float:
    """A [0, 1) confidence from a non-negative blended score (1 - e^-2s), 3 decimals."""
    return round(1.0 - math.exp(-2.0 * max(score, 0.0)), 3)


def decayed(ages_s: Sequence[float], half_life_s: float) -> float:
    """Time-decayed count: each event weighs 2^(-age / half-life) (1 now, 1/2 a half-life ago)."""
    return float(sum(0.5 ** (max(a, 0.0) / half_life_s) for a in ages_s))


def variant_of(experiment: str, user_id: int, variants: Sequence[str]) -> str:
    """A reader's stable variant: SHA-256 of (experiment, reader) modulo the variants - the same
    answer in every process and on every machine (unlike Python's salted hash())."""
    digest = hashlib.sha256(f"{experiment}:{user_id}".encode()).digest()
    return variants[int.from_bytes(digest[:8], "big") % len(variants)]


def dcg_at(ranked: Sequence[int], relevant: set[int], k: int = 10) -> float:
    return sum(1.0 / math.log2(i + 2) for i, item in enumerate(ranked[:k]) if item in relevant)


def ndcg_at(ranked: Sequence[int], relevant: set[int], k: int = 10) -> float:
    """NDCG@k with binary relevance."""
    ideal = dcg_at(sorted(relevant)[:k], relevant, k)
    return dcg_at(ranked, relevant, k) / ideal if ideal else 0.0
