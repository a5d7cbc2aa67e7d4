"""Profile pictures: only real images, decoded and re-encoded, kept in the avatar store.

An upload is refused unless Pillow decodes it as JPEG, PNG, WebP or GIF within the byte and
pixel limits (the pixel count is checked from the header, before decoding, against
decompression bombs). The first frame is cropped square and re-encoded as PNG at each size in
`SIZES`, so nothing of the upload but its pixels is kept: no metadata (EXIF, GPS), no trailing
bytes (a polyglot's second payload), no animation. Files are `<user id>/<key>-<size>.png` in
the avatar store (domain/storage.py: `{data_dir}/avatars/` by default, `s3://<bucket>/avatars/`
when READALONG_AVATAR_STORE=s3), `key` being a hash of the re-encoded image, so a URL never
changes content and is served (by this server, whichever the store) as immutable.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import re

from PIL import Image, ImageOps, UnidentifiedImageError

from domain.db import Database
from domain.errors import Invalid, NotFound
from domain.settings import Settings
from domain.storage import avatar_store

SIZES = (256, 64)
FORMATS = {"JPEG", "PNG", "WEBP", "GIF"}
KEY_RE = re.compile(r"^[0-9a-f]{16}$")


def _name(user_id: int, key: str, size: int) -> str:
    return f"{user_id}/{key}-{size}.png"


def _reencode(data: bytes, max_pixels: int) -> dict[int, bytes]:
    """Decode and re-encode (in a worker thread); raises Invalid for anything else."""
    try:
        with Image.open(io.BytesIO(data)) as img:
            if img.format not in FORMATS:
                raise Invalid("the avatar must be a JPEG, PNG, WebP or GIF image",
                              code="avatar_type", field="file")
            if img.width * img.height > max_pixels:
                raise Invalid(f"the avatar may have at most {max_pixels} pixels",
                              code="avatar_too_large", field="file")
            img.seek(0)
            img.load()
            frame = ImageOps.exif_transpose(img).convert("RGBA")
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError,
            SyntaxError) as exc:
        raise Invalid("the avatar is not an image we can read", code="avatar_invalid",
                      field="file") from exc
    out: dict[int, bytes] = {}
    for size in SIZES:
        buf = io.BytesIO()
        ImageOps.fit(frame, (size, size), Image.Resampling.LANCZOS).save(buf, "PNG",
                                                                          optimize=True)
        out[size] = buf.getvalue()
    return out


async def upload(db: Database, settings: Settings, user_id: int, data: bytes) -> str:
    """Store a new avatar for the user and point `avatar_url` at it; returns the URL."""
    if not data:
        raise Invalid("the avatar file is empty", code="avatar_invalid", field="file")
    if len(data) > settings.avatar_max_bytes:
        raise Invalid(f"the avatar may be at most {settings.avatar_max_bytes} bytes",
                      code="avatar_too_large", field="file")
    images = await asyncio.to_thread(_reencode, data, settings.avatar_max_pixels)
    key = hashlib.sha256(images[SIZES[0]]).hexdigest()[:16]
    store = avatar_store(settings)
    for size, content in images.items():
        await store.put(_name(user_id, key, size), content, "image/png")
    url = f"{settings.public_url.rstrip('/')}/api/v1/avatars/{user_id}/{key}/{SIZES[0]}.png"
    old = await db.pool.fetchval(
        "WITH prev AS (SELECT avatar_key FROM users WHERE id = $1) "
        "UPDATE users SET avatar_key = $2, avatar_url = $3, updated_at = now() WHERE id = $1 "
        "RETURNING (SELECT avatar_key FROM prev)", user_id, key, url)
    if old and old != key:
        await _remove(settings, user_id, str(old))
    return url


async def _remove(settings: Settings, user_id: int, key: str) -> None:
    store = avatar_store(settings)
    for size in SIZES:
        await store.delete(_name(user_id, key, size))


async def remove(db: Database, settings: Settings, user_id: int) -> None:
    old = await db.pool.fetchval(
        "WITH prev AS (SELECT avatar_key FROM users WHERE id = $1) "
        "UPDATE users SET avatar_key = NULL, avatar_url = NULL, updated_at = now() "
        "WHERE id = $1 RETURNING (SELECT avatar_key FROM prev)", user_id)
    if old:
        await _remove(settings, user_id, str(old))


async def image(settings: Settings, user_id: int, key: str, size: int) -> bytes:
    """The stored PNG of one avatar size; 404 for anything unknown (no path tricks)."""
    if not KEY_RE.match(key) or size not in SIZES or user_id <= 0:
        raise NotFound("no such avatar", code="avatar_not_found")
    data = await avatar_store(settings).get(_name(user_id, key, size))
    if data is None:
        raise NotFound("no such avatar", code="avatar_not_found")
    return data


async def drop_all(settings: Settings, user_id: int) -> None:
    """Delete every stored avatar file of a user (account deletion)."""
    store = avatar_store(settings)
    for name in await store.list(f"{user_id}/"):
        await store.delete(name)
