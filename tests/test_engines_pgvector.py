"""The embedded PostgreSQL's pgvector works on this CPU: its distance and norm functions answer,
and the server process behind the connection survives them (a vector.so built for AVX-512 kills
the backend with SIGILL on a CPU without it; `ops/portable_pgvector.sh`, run by `make install`,
rebuilds it portably there)."""

from __future__ import annotations

import asyncpg
import pytest

from tests.conftest import Engines

pytestmark = pytest.mark.asyncio

DIM = 384  # the embeddings' size: long enough that the compiler's vector loops run


async def test_vector_distances_and_norms_answer_without_killing_the_backend(
        engines: Engines) -> None:
    conn = await asyncpg.connect(engines.database_url)
    try:
        pid = await conn.fetchval("SELECT pg_backend_pid()")
        a = "[" + ",".join(str((i % 7) / 7) for i in range(DIM)) + "]"
        b = "[" + ",".join(str((i % 5) / 5) for i in range(DIM)) + "]"
        row = await conn.fetchrow(
            "SELECT vector_norm('[3,4]'::vector) AS norm,"
            " $1::vector <-> $1::vector AS same_l2,"
            " $1::vector <=> $2::vector AS cosine,"
            " $1::vector <#> $2::vector AS inner,"
            " l2_normalize($2::vector) <-> l2_normalize($2::vector) AS normalized,"
            " ($1::vector)::halfvec <-> ($2::vector)::halfvec AS half_l2", a, b)
        assert row["norm"] == pytest.approx(5.0)
        assert row["same_l2"] == pytest.approx(0.0)
        assert 0.0 < row["cosine"] < 1.0
        assert row["inner"] < 0.0  # pgvector's <#> is the negative inner product
        assert row["normalized"] == pytest.approx(0.0)
        assert row["half_l2"] > 0.0
        # the same backend still answers: it was not killed and restarted
        assert await conn.fetchval("SELECT pg_backend_pid()") == pid
    finally:
        await conn.close()
