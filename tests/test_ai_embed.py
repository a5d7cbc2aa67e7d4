"""Embeddings: the offline model loads with no network, the hosted endpoint, the worker's sweeps."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import httpx
import numpy as np
import pytest

from domain.ai import vectors
from domain.ai.embed import (
    WORDLLAMA_ID,
    EmbeddingUnavailable,
    OpenAIEmbedder,
    WordLlamaEmbedder,
)
from domain.jobqueue import enqueue
from tests.ai_helpers import FAKE_DIM, OFFLINE_GUARD, fake_openai
from tests.catalog_helpers import auth, create_book
from tests.support import ROOT
from tests.worker_helpers import db_and_redis, run_worker, worker_settings

OFFLINE_SCRIPT = OFFLINE_GUARD + """
import os, sys
os.environ["HF_HUB_OFFLINE"] = "0"
os.environ["HOME"] = sys.argv[1]          # an empty home: no ~/.cache/wordllama to fall back on
from domain.ai.embed import WordLlamaEmbedder
e = WordLlamaEmbedder()
v = e.embed_sync(["a whale hunt on the open sea", "sailors chase a great white whale",
                  "a recipe for lemon cake"])
close, far = float(v[0] @ v[1]), float(v[0] @ v[2])
print(v.shape[1], round(close, 3), round(far, 3), len(attempts))
"""


def test_offline_embedder_loads_with_the_network_unreachable(tmp_path: Any) -> None:
    """In a fresh process where every connection past loopback fails and the home folder is
    empty, the bundled model loads and embeds: 256 dimensions, related sentences closer."""
    out = subprocess.run([sys.executable, "-c", OFFLINE_SCRIPT, str(tmp_path)], cwd=ROOT,
                         capture_output=True, text=True, timeout=60, env={"PYTHONPATH": str(ROOT),
                                                                          "PATH": "/usr/bin"})
    assert out.returncode == 0, out.stderr
    dim, close, far, attempts = out.stdout.split()
    assert int(dim) == 256
    assert float(close) > float(far)
    assert int(attempts) == 0, "the offline model must not even try the network"


async def test_offline_embedder_gives_unit_vectors() -> None:
    """Every vector is unit length, so cosine similarity is a dot product."""
    v = await WordLlamaEmbedder().embed(["Moby-Dick", "x" * 500, ""])
    assert v.shape == (3, 256)
    assert np.allclose(np.linalg.norm(v[:2], axis=1), 1.0, atol=1e-4)


async def test_hosted_embeddings_endpoint_and_its_failure() -> None:
    """The OpenAI-compatible endpoint gets the model, the key and every text (in batches) and
    its vectors come back normalised; a failing endpoint is a clear EmbeddingUnavailable."""
    with fake_openai() as fake:
        emb = OpenAIEmbedder(fake.url, "sk-test", "fake-embed", 5.0)
        texts = [f"text number {i}" for i in range(300)]
        v = await emb.embed(texts)
        assert v.shape == (300, FAKE_DIM)
        assert np.allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-4)
        assert [len(r["input"]) for r in fake.requests] == [256, 44]
        assert fake.requests[0]["model"] == "fake-embed"
        assert fake.headers[0]["Authorization"] == "Bearer sk-test"
        assert emb.model_id == "openai:fake-embed"
        fake.fail = True
        with pytest.raises(EmbeddingUnavailable):
            await emb.embed(["anything"])
    with fake_openai() as slow:
        slow.delay = 1.0
        with pytest.raises(EmbeddingUnavailable):
            await OpenAIEmbedder(slow.url, "", "m", 0.2).embed(["too slow"])


async def _row(db: Any, book_id: int, model: str = WORDLLAMA_ID) -> Any:
    async with db.pool.acquire() as conn:
        return await conn.fetchrow("SELECT dim, book_version FROM book_embeddings "
                                   "WHERE book_id = $1 AND model = $2", book_id, model)


async def test_worker_embeds_created_and_edited_books(engines: Any, http: httpx.AsyncClient,
                                                      unique: str) -> None:
    """A new book is embedded by the worker's sweep, and an edit is embedded again."""
    book = await create_book(http, title=f"Harbour {unique}", description="sea and sailors")
    settings = worker_settings(engines)
    async with db_and_redis(engines) as (db, redis):
        await enqueue(redis, "ai_embed_sweep")
        await run_worker(settings)
        row = await _row(db, book["id"])
        assert row is not None and row["dim"] == 256 and row["book_version"] == 1
        r = await http.patch(f"/api/v1/books/{book['id']}", headers=auth("moderator"),
                             json={"version": 1, "description": "mountains and snow"})
        assert r.status_code == 200, r.text
        await enqueue(redis, "ai_embed_sweep")
        await run_worker(settings)
        row = await _row(db, book["id"])
        assert row["book_version"] == 2
        # nothing changed since: the next sweep returns at once
        assert await vectors.embed_catalog(db, redis, WordLlamaEmbedder()) == 0


async def test_model_change_reembeds_in_the_background(engines: Any, http: httpx.AsyncClient,
                                                       unique: str) -> None:
    """Switching to another model re-embeds the whole catalog with it (progress in Redis) and
    drops the old model's rows once complete; switching back restores the default."""
    book = await create_book(http, title=f"Lantern {unique}")
    async with db_and_redis(engines) as (db, redis):
        with fake_openai() as fake:
            hosted = worker_settings(engines, READALONG_AI_EMBED_URL=fake.url,
                                     READALONG_AI_EMBED_MODEL="fake-embed")
            await enqueue(redis, "ai_embed_sweep")
            await run_worker(hosted)
            assert fake.requests, "the hosted model was not called"
        row = await _row(db, book["id"], "openai:fake-embed")
        assert row is not None and row["dim"] == FAKE_DIM
        async with db.pool.acquire() as conn:
            models = {r["model"] for r in await conn.fetch(
                "SELECT DISTINCT model FROM book_embeddings")}
            missing = await conn.fetchval(
                "SELECT count(*) FROM books b WHERE NOT EXISTS (SELECT 1 FROM book_embeddings e "
                "WHERE e.book_id = b.id AND e.model = 'openai:fake-embed')")
        assert models == {"openai:fake-embed"} and missing == 0
        p = await vectors.progress(redis)
        assert p.model == "openai:fake-embed" and p.state == "done" and p.done == p.total > 0
        await enqueue(redis, "ai_embed_all")
        await run_worker(worker_settings(engines))
        assert (await _row(db, book["id"]))["dim"] == 256


def test_offline_embedder_loads_in_this_process_with_the_network_unreachable(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> None:
    """Inside the test process too: with connections past 127.0.0.1 and DNS failing and an
    empty home folder, the model loads again from the package's own files and embeds."""
    import socket

    from domain.ai import embed

    attempts: list[Any] = []
    real_connect, real_getaddrinfo = socket.socket.connect, socket.getaddrinfo

    def connect(self: socket.socket, address: Any) -> Any:
        if not (isinstance(address, tuple) and address[0] in ("127.0.0.1", "::1")):
            attempts.append(address)
            raise OSError("network unreachable (test guard)")
        return real_connect(self, address)

    def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        if host not in ("127.0.0.1", "::1", "localhost"):
            attempts.append(host)
            raise socket.gaierror("no DNS (test guard)")
        return real_getaddrinfo(host, *args, **kwargs)

    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setattr(embed, "_model", None)  # force a fresh load under the guard
    vectors_ = WordLlamaEmbedder().embed_sync(["a lighthouse on the coast"])
    assert vectors_.shape == (1, 256) and not attempts
