"""recs-eval: offline quality of the recommendation strategies on a synthetic population.

Readers have latent genre preferences (2-3 genres each, Dirichlet weights); books have a genre,
a content vector (the genre's direction plus noise, unit length, like an embedding) and a Zipf
popularity. Each reader shelves books drawn by preference x popularity, with statuses (read,
reading, want-to-read, did-not-finish) and ratings that follow the preference. One shelved book
per reader is held out (leave-one-out); each strategy ranks the books the reader has not shelved
and we report hit-rate@10 and NDCG@10 against that held-out book. The strategies are the served
functions of domain/ai/recs.py.

    python -m load recs-eval [--readers 2000] [--books 3000] [--genres 20] [--seed 7]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from domain.ai import recs
from domain.ai.neighbours import NEIGHBOURS

STATUSES = ("read", "reading", "want_to_read", "did_not_finish")


def population(readers: int, books: int, genres: int, seed: int, dim: int = 32
               ) -> tuple[list[dict[int, float]], list[int], np.ndarray, np.ndarray]:
    """(histories, held-out book per reader, content vectors, popularity counts)."""
    rng = np.random.default_rng(seed)
    genre_of = rng.integers(0, genres, size=books)
    axes = rng.normal(size=(genres, dim))
    vectors = axes[genre_of] + 0.8 * rng.normal(size=(books, dim))
    vectors = (vectors / np.linalg.norm(vectors, axis=1, keepdims=True)).astype(np.float32)
    popularity = 1.0 / np.arange(1, books + 1) ** 0.8
    rng.shuffle(popularity)
    histories: list[dict[int, float]] = []
    held: list[int] = []
    for _ in range(readers):
        liked = rng.choice(genres, size=int(rng.integers(2, 4)), replace=False)
        taste = np.full(genres, 0.02)
        taste[liked] += rng.dirichlet(np.ones(len(liked)))
        p = taste[genre_of] * popularity
        p /= p.sum()
        n = int(rng.integers(8, 30))
        chosen = rng.choice(books, size=n, replace=False, p=p)
        history: dict[int, float] = {}
        for book in chosen:
            affinity = taste[genre_of[book]] / taste.max()
            status = STATUSES[int(rng.choice(4, p=[0.55, 0.15, 0.2, 0.1]))]
            if affinity < 0.2 and rng.random() < 0.5:
                status = "did_not_finish"
            rating = int(np.clip(round(4 + 16 * affinity + rng.normal(0, 2)), 2, 20)) \
                if status == "read" and rng.random() < 0.6 else None
            history[int(book)] = recs.interaction_weight(status, rating)
        positives = [b for b, w in history.items() if w >= 0.4]
        out = int(rng.choice(positives)) if positives else int(chosen[0])
        del history[out]
        histories.append(history)
        held.append(out)
    counts = np.zeros(books)
    for h in histories:
        for b in h:
            counts[b] += 1
    return histories, held, vectors, counts


def evaluate(readers: int, books: int, genres: int, seed: int) -> list[tuple[str, float, float]]:
    histories, held, vectors, counts = population(readers, books, genres, seed)
    neighbours = recs.neighbours_from(histories, NEIGHBOURS)  # as stored
    pop = counts.astype(np.float64)
    results: dict[str, list[tuple[float, float]]] = {s: [] for s in
                                                      ("popularity", "cf", "content", "hybrid")}
    for u, history in enumerate(histories):
        cf = np.zeros(books)
        for b, v in recs.cf_from_neighbours(history, neighbours).items():
            cf[b] = v
        parts = {"cf": cf,
                 "content": recs.content_scores(history, vectors), "popularity": pop}
        ranked_by = {"popularity": pop, "cf": parts["cf"] + 1e-6 * pop,
                     "content": parts["content"], "hybrid": recs.blend(parts)}
        for name, scores in ranked_by.items():
            top = recs.top_k(scores, 10, exclude=list(history))
            hit = 1.0 if held[u] in top else 0.0
            results[name].append((hit, recs.ndcg_at(top, {held[u]})))
    return [(name, float(np.mean([h for h, _ in r])), float(np.mean([n for _, n in r])))
            for name, r in results.items()]


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="python -m load recs-eval")
    p.add_argument("--readers", type=int, default=2000)
    p.add_argument("--books", type=int, default=3000)
    p.add_argument("--genres", type=int, default=20)
    p.add_argument("--seed", type=int, default=7)
    args = p.parse_args(argv)
    t0 = time.perf_counter()
    rows = evaluate(args.readers, args.books, args.genres, args.seed)
    base = dict((n, (h, g)) for n, h, g in rows)["popularity"]
    print(f"recs-eval: {args.readers} readers, {args.books} books, {args.genres} genres, "
          f"seed {args.seed}, leave-one-out ({time.perf_counter() - t0:.1f} s)")
    print("| strategy | hit-rate@10 | NDCG@10 | vs popularity (hit-rate) |")
    print("|---|---|---|---|")
    for name, hit, ndcg in rows:
        print(f"| {name} | {hit:.3f} | {ndcg:.3f} | x{hit / base[0]:.2f} |")
    return 0
