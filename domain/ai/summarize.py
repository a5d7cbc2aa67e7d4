"""Extractive summaries: sentence split, similarity graph over embeddings, TextRank, redundancy
removal, original order, each sentence attributed to its author. Optional abstractive pass
through an OpenAI-compatible chat-completions endpoint, falling back to the extractive summary.

Pure functions of the texts they are given: what they are given is decided by the caller
(domain/ai/catchup.py gives only what the reader may see in full).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import TYPE_CHECKING

import httpx
import msgspec

from domain.ai.embed import Embedder

if TYPE_CHECKING:  # numpy is imported where it computes: ~120 ms off every process start
    import numpy as np

DAMPING = 0.85
ITERATIONS = 50
REDUNDANT = 0.9           # a sentence this close to one already chosen is left out
MAX_SENTENCE = 400        # characters kept of one sentence
_SPLIT = re.compile(r"(?<=[.!?…])\s+|\n+")


class Line(msgspec.Struct, frozen=True):
    """One input message: who wrote it (id and name) and its text."""

    message_id: int
    author_id: int
    author_name: str
    text: str


class Sentence(msgspec.Struct, frozen=True):
    message_id: int
    author_id: int
    author_name: str
    text: str


def sentences(lines: Sequence[Line]) -> list[Sentence]:
    """Every non-trivial sentence of the lines, in order, with its message and author."""
    out: list[Sentence] = []
    for line in lines:
        for part in _SPLIT.split(line.text):
            text = " ".join(part.split())[:MAX_SENTENCE]
            if len(re.findall(r"\w+", text)) >= 2:
                out.append(Sentence(line.message_id, line.author_id, line.author_name, text))
    return out


def textrank(similarity: np.ndarray) -> np.ndarray:
    """PageRank over a weighted similarity graph (negative weights cut, no self loops)."""
    import numpy as np

    n = similarity.shape[0]
    if n == 0:
        return np.zeros(0)
    graph = np.clip(similarity.astype(np.float64), 0.0, None)
    np.fill_diagonal(graph, 0.0)
    out_weight = graph.sum(axis=1, keepdims=True)
    dangling = (out_weight == 0).reshape(-1)
    out_weight[out_weight == 0] = 1.0
    transition = graph / out_weight
    rank = np.full(n, 1.0 / n)
    for _ in range(ITERATIONS):
        spread = rank[dangling].sum() / n
        new = (1 - DAMPING) / n + DAMPING * (transition.T @ rank + spread)
        if np.abs(new - rank).sum() < 1e-9:
            rank = new
            break
        rank = new
    return rank


def pick(sents: Sequence[Sentence], vectors: np.ndarray, k: int) -> list[Sentence]:
    """The k most central sentences, none redundant with another, in their original order."""
    if not sents:
        return []
    sim = vectors @ vectors.T
    ranks = textrank(sim)
    chosen: list[int] = []
    for i in sorted(range(len(sents)), key=lambda j: (-ranks[j], j)):
        if len(chosen) >= k:
            break
        if any(sim[i, j] >= REDUNDANT for j in chosen):
            continue
        chosen.append(i)
    return [sents[i] for i in sorted(chosen)]


def size_for(count: int) -> int:
    """How many sentences a summary of `count` sentences keeps (1 to 6)."""
    return max(1, min(6, (count + 3) // 4))


async def extractive(embedder: Embedder, lines: Sequence[Line],
                     k: int | None = None) -> list[Sentence]:
    """The extractive summary of `lines`."""
    sents = sentences(lines)
    if len(sents) <= 1:
        return sents
    vectors = await embedder.embed([s.text for s in sents])
    return pick(sents, vectors, k or size_for(len(sents)))


class ChatUnavailable(RuntimeError):
    """The chat endpoint failed, timed out or answered something unusable."""


async def abstractive(base_url: str, key: str, model: str, timeout: float,
                      lines: Sequence[Line]) -> str:
    """A short prose summary of `lines` from an OpenAI-compatible chat-completions endpoint."""
    transcript = "\n".join(f"{line.author_name}: {line.text}" for line in lines)
    body = {"model": model, "temperature": 0.2, "messages": [
        {"role": "system", "content": "Summarise this reading-group chat in at most five "
         "sentences, naming who said what. Use only the chat below."},
        {"role": "user", "content": transcript}]}
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    try:
        async with httpx.AsyncClient(timeout=timeout, trust_env=False) as client:
            r = await client.post(f"{base_url.rstrip('/')}/chat/completions", json=body,
                                  headers=headers)
            r.raise_for_status()
            text = r.json()["choices"][0]["message"]["content"]
    except (httpx.HTTPError, KeyError, IndexError, TypeError, ValueError) as exc:
        raise ChatUnavailable(str(exc)) from exc
    if not isinstance(text, str) or not text.strip():
        raise ChatUnavailable("empty answer")
    return text.strip()
