"""Book covers through this server: remote cover images fetched once, checked, re-encoded and
cached, so clients never hot-link third parties when READALONG_COVERS_PROXY=1.

- `shown(book_id, url)` is what every book payload (book, search hit, shelf entry) carries as
  `cover_url`: with the proxy on, a remote URL becomes `<public url>/api/v1/books/<id>/cover`
  (the server process calls `configure(settings)` at start); off, the stored URL unchanged.
- `cover(...)` answers that path: the cached image if there is one, else it fetches the stored
  URL (http/https only, no redirects followed, at most READALONG_COVER_FETCH_TIMEOUT s and
  READALONG_COVER_MAX_BYTES: the download stops there), refuses anything Pillow does not
  decode as JPEG/PNG/WebP/GIF within READALONG_COVER_MAX_PIXELS (checked from the header,
  before decoding), and re-encodes the first frame as a JPEG no larger than 800 px (no
  metadata, no trailing bytes), cached as `<data dir>/covers/<sha256 of the URL>.jpg`: a new
  URL is a new file. A failure is remembered for 10 minutes (`ra:cover:bad:<hash>`), so a
  broken or oversized image is not fetched again on every view.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import ipaddress
import socket
from urllib.parse import urlsplit

import httpx
from PIL import Image, ImageOps, UnidentifiedImageError
from redis.asyncio import Redis

from domain.db import Database
from domain.errors import DomainError, NotFound
from domain.settings import Settings
from domain.storage import LocalStorage

FORMATS = {"JPEG", "PNG", "WEBP", "GIF"}
LONG_SIDE = 800
BAD_TTL = 600
BAD = "ra:cover:bad:"
_proxy_base: str | None = None


class CoverUnavailable(DomainError):
    status = 502
    code = "cover_unavailable"


def configure(settings: Settings) -> None:
    """Turn rewriting on or off for this process (the server's start calls it)."""
    global _proxy_base
    _proxy_base = settings.public_url.rstrip("/") if settings.covers_proxy else None


def proxy_path(book_id: int) -> str:
    return f"/api/v1/books/{book_id}/cover"


def shown(book_id: int, url: str | None) -> str | None:
    """The `cover_url` a client gets (see the module docstring)."""
    if url is None or _proxy_base is None or url.startswith(_proxy_base + "/"):
        return url
    return _proxy_base + proxy_path(book_id)


def _key(url: str) -> str:
    return hashlib.sha256(url.encode()).hexdigest()


def _reencode(data: bytes, max_pixels: int) -> bytes:
    try:
        with Image.open(io.BytesIO(data)) as img:
            if img.format not in FORMATS:
                raise CoverUnavailable("the cover is not a JPEG, PNG, WebP or GIF image")
            if img.width * img.height > max_pixels:
                raise CoverUnavailable(f"the cover has more than {max_pixels} pixels")
            img.seek(0)
            img.load()
            frame = ImageOps.exif_transpose(img).convert("RGB")
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError,
            SyntaxError) as exc:
        raise CoverUnavailable("the cover is not an image we can read") from exc
    frame.thumbnail((LONG_SIDE, LONG_SIDE), Image.Resampling.LANCZOS)
    buf = io.BytesIO()
    frame.save(buf, "JPEG", quality=85, optimize=True)
    return buf.getvalue()


def _check_target(url: str) -> None:
    """http(s) only, and never a link-local address (cloud metadata services)."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise CoverUnavailable("the cover URL is not an http(s) URL")
    try:
        infos = socket.getaddrinfo(parts.hostname, parts.port or 443, type=socket.SOCK_STREAM)
    except OSError as exc:
        raise CoverUnavailable("the cover's host does not resolve") from exc
    for info in infos:
        if ipaddress.ip_address(info[4][0]).is_link_local:
            raise CoverUnavailable("the cover's host is a link-local address")


async def _download(settings: Settings, url: str) -> bytes:
    await asyncio.to_thread(_check_target, url)
    limit = settings.cover_max_bytes
    try:
        async with httpx.AsyncClient(timeout=settings.cover_fetch_timeout,
                                     follow_redirects=False) as client, \
                client.stream("GET", url, headers={"Accept": "image/*"}) as r:
            if r.status_code != 200:
                raise CoverUnavailable(f"the cover's server answered HTTP {r.status_code}")
            declared = r.headers.get("content-length", "")
            if declared.isdigit() and int(declared) > limit:
                raise CoverUnavailable(f"the cover is larger than {limit} bytes")
            body = bytearray()
            async for chunk in r.aiter_bytes():
                body += chunk
                if len(body) > limit:
                    raise CoverUnavailable(f"the cover is larger than {limit} bytes")
    except httpx.HTTPError as exc:
        raise CoverUnavailable("the cover's server did not answer") from exc
    return bytes(body)


async def cover(db: Database, redis: Redis, settings: Settings, book_id: int) -> bytes:
    """The book's cover as a cached JPEG (see the module docstring)."""
    url = await db.pool.fetchval("SELECT cover_url FROM books WHERE id = $1", book_id)
    if not url:
        raise NotFound("this book has no cover", code="cover_not_found")
    key = _key(str(url))
    store = LocalStorage(settings.data_path / "covers")
    cached = await store.get(f"{key}.jpg")
    if cached is not None:
        return cached
    reason = await redis.get(BAD + key)
    if reason is not None:
        raise CoverUnavailable(reason.decode())
    try:
        image = await asyncio.to_thread(
            _reencode, await _download(settings, str(url)), settings.cover_max_pixels)
    except CoverUnavailable as exc:
        await redis.set(BAD + key, exc.detail, ex=BAD_TTL)
        raise
    await store.put(f"{key}.jpg", image, "image/jpeg")
    return image
