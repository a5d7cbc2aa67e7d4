"""Profile pictures: only real images, decoded and re-encoded, stored on local disk.

An upload is refused unless Pillow decodes it as JPEG, PNG, WebP or GIF within the byte and
pixel limits (the pixel count is checked from the header, before decoding, against
decompression bombs). The first frame is cropped square and re-encoded as PNG at each size in
`SIZES`, so nothing of the upload but its pixels is kept: no metadata (EXIF, GPS), no trailing
bytes (a polyglot's second payload), no animation. Files live under
`{data_dir}/avatars/<user id>/<key>-<size>.png`, `key` being a hash of the re-encoded image,
so a URL never changes content and is served as immutable.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import re
import shutil
from pathlib import Path

from PIL import Image, ImageOps, UnidentifiedImageError

from domain.db import Database
from domain.errors import Invalid, NotFound
from domain.settings import Settings

SIZES = (256, 64)
FORMATS = {"JPEG", "PNG", "WEBP", "GIF"}
KEY_RE = re.compile(r"^[0-9a-f]{16}$")


def _folder(settings: Settings, user_id: int) -> Path:
    return settings.data_path / "avatars" / str(user_id)


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
    folder = _folder(settings, user_id)

    def write() -> None:
        folder.mkdir(parents=True, exist_ok=True)
        for size, content in images.items():
            tmp = folder / f".{key}-{size}.tmp"
            tmp.write_bytes(content)
            tmp.replace(folder / f"{key}-{size}.png")

    await asyncio.to_thread(write)
    url = f"{settings.public_url.rstrip('/')}/api/v1/avatars/{user_id}/{key}/{SIZES[0]}.png"
    old = await db.pool.fetchval(
        "WITH prev AS (SELECT avatar_key FROM users WHERE id = $1) "
        "UPDATE users SET avatar_key = $2, avatar_url = $3, updated_at = now() WHERE id = $1 "
        "RETURNING (SELECT avatar_key FROM prev)", user_id, key, url)
    if old and old != key:
        await asyncio.to_thread(_remove, folder, str(old))
    return url


def _remove(folder: Path, key: str) -> None:
    for size in SIZES:
        (folder / f"{key}-{size}.png").unlink(missing_ok=True)


async def remove(db: Database, settings: Settings, user_id: int) -> None:
    old = await db.pool.fetchval(
        "WITH prev AS (SELECT avatar_key FROM users WHERE id = $1) "
        "UPDATE users SET avatar_key = NULL, avatar_url = NULL, updated_at = now() "
        "WHERE id = $1 RETURNING (SELECT avatar_key FROM prev)", user_id)
    if old:
        await asyncio.to_thread(_remove, _folder(settings, user_id), str(old))


def file_for(settings: Settings, user_id: int, key: str, size: int) -> Path:
    """The stored file of one avatar size; 404 for anything unknown (no path tricks)."""
    path = _folder(settings, user_id) / f"{key}-{size}.png"
    if not KEY_RE.match(key) or size not in SIZES or not path.is_file():
        raise NotFound("no such avatar", code="avatar_not_found")
    return path


def drop_all(settings: Settings, user_id: int) -> None:
    """Delete every stored avatar file of a user (account deletion)."""
    shutil.rmtree(_folder(settings, user_id), ignore_errors=True)
