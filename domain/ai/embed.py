"""Text embeddings: one `Embedder` interface, an offline default and an optional hosted endpoint.

The default is `wordllama`'s bundled 256-dimension model (static token embeddings, mean-pooled):
its weights and tokenizer ship inside the wheel, so nothing is downloaded at run time on any
machine. `WordLlama.load(disable_download=True)` alone looks for the tokenizer in the wrong
folder of the package and then in ~/.cache, so we point its cache directory at the package's
own directory and keep downloads disabled: a missing file is an error, never a fetch.

With `READALONG_AI_EMBED_URL` set, an OpenAI-compatible `/embeddings` endpoint is used instead.
Every vector is L2-normalised (cosine similarity = dot product), float32.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import httpx

from domain.errors import DomainError
from domain.settings import Settings

if TYPE_CHECKING:  # numpy is imported where vectors are made: ~120 ms off every process start
    import numpy as np
    import numpy.typing as npt

    Vectors = npt.NDArray[np.float32]
WORDLLAMA_CONFIG, WORDLLAMA_DIM = "l2_supercat", 256
WORDLLAMA_ID = f"wordllama:{WORDLLAMA_CONFIG}:{WORDLLAMA_DIM}"
MAX_BATCH = 256           # texts per remote request
THREAD_THRESHOLD = 64     # local batches larger than this run in a thread (keep the loop free)


class EmbeddingUnavailable(DomainError):
    """The configured embedding backend could not answer (remote error, timeout, bad reply)."""

    status = 503
    code = "embeddings_unavailable"


class Embedder(Protocol):
    """Turns texts into unit vectors of one model; `model_id` names the model and its size."""

    @property
    def model_id(self) -> str: ...

    async def embed(self, texts: Sequence[str]) -> Vectors: ...


def normalise(vectors: npt.ArrayLike) -> Vectors:
    """Rows scaled to unit length (a zero row stays zero), as float32."""
    import numpy as np

    arr = np.asarray(vectors, dtype=np.float32)
    if arr.ndim == 1:
        arr = arr.reshape(1, -1)
    norms = np.linalg.norm(arr, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    out: Vectors = (arr / norms).astype(np.float32)
    return out


_model_lock = threading.Lock()
_model: Any = None


def load_wordllama() -> Any:
    """The bundled wordllama model, loaded once per process from the package's own files."""
    global _model
    with _model_lock:
        if _model is None:
            import wordllama
            from wordllama import WordLlama

            package_dir = Path(wordllama.__file__).resolve().parent
            _model = WordLlama.load(config=WORDLLAMA_CONFIG, dim=WORDLLAMA_DIM,
                                    cache_dir=package_dir, disable_download=True)
        return _model


class WordLlamaEmbedder:
    """The offline default: wordllama's bundled 256-d model, no network ever."""

    model_id = WORDLLAMA_ID

    def embed_sync(self, texts: Sequence[str]) -> Vectors:
        import numpy as np

        if not texts:
            return np.zeros((0, WORDLLAMA_DIM), dtype=np.float32)
        return normalise(load_wordllama().embed(list(texts), norm=False, return_np=True))

    async def embed(self, texts: Sequence[str]) -> Vectors:
        # the first call loads the model (~0.3 s) in a thread, not on the event loop
        if _model is None or len(texts) > THREAD_THRESHOLD:
            return await asyncio.to_thread(self.embed_sync, texts)
        return self.embed_sync(texts)


class OpenAIEmbedder:
    """An OpenAI-compatible embeddings endpoint: POST {base}/embeddings {model, input}."""

    def __init__(self, base_url: str, key: str, model: str, timeout: float) -> None:
        self.base_url = base_url.rstrip("/")
        self.key = key
        self.model = model
        self.timeout = timeout
        self.model_id = f"openai:{model}"

    async def embed(self, texts: Sequence[str]) -> Vectors:
        import numpy as np

        if not texts:
            return np.zeros((0, 0), dtype=np.float32)
        headers = {"Authorization": f"Bearer {self.key}"} if self.key else {}
        out: list[list[float]] = []
        async with httpx.AsyncClient(timeout=self.timeout, trust_env=False) as client:
            for start in range(0, len(texts), MAX_BATCH):
                batch = list(texts[start:start + MAX_BATCH])
                try:
                    r = await client.post(f"{self.base_url}/embeddings", headers=headers,
                                          json={"model": self.model, "input": batch})
                    r.raise_for_status()
                    data = sorted(r.json()["data"], key=lambda d: d["index"])
                    vectors = [list(map(float, d["embedding"])) for d in data]
                except (httpx.HTTPError, KeyError, TypeError, ValueError) as exc:
                    raise EmbeddingUnavailable(f"embeddings endpoint failed: {exc}") from exc
                if len(vectors) != len(batch) or len({len(v) for v in vectors}) != 1:
                    raise EmbeddingUnavailable("embeddings endpoint answered a malformed batch")
                out.extend(vectors)
        return normalise(out)


_cache: dict[tuple[str, str, str, float], Embedder] = {}


def embedder_for(settings: Settings) -> Embedder:
    """The process's embedder for `settings` (the hosted one when a URL is configured)."""
    key = (settings.ai_embed_url, settings.ai_embed_key, settings.ai_embed_model,
           settings.ai_embed_timeout)
    found = _cache.get(key)
    if found is None:
        if settings.ai_embed_url:
            found = OpenAIEmbedder(settings.ai_embed_url, settings.ai_embed_key,
                                   settings.ai_embed_model, settings.ai_embed_timeout)
        else:
            found = WordLlamaEmbedder()
        _cache[key] = found
    return found


def to_pgvector(vector: npt.NDArray[np.float32]) -> str:
    """pgvector's text form of one vector ('[0.1,0.2,...]'), sent as a bound parameter."""
    return "[" + ",".join(f"{x:.6g}" for x in vector.tolist()) + "]"


def from_pgvector(text: str) -> Vectors:
    """One vector from pgvector's text form."""
    import numpy as np

    return np.asarray([float(x) for x in text.strip("[]").split(",") if x], dtype=np.float32)
