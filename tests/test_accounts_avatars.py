"""Avatars on a real server: a real photo is re-encoded (metadata gone) and served with
caching headers; a bogus file, a polyglot's payload and oversized images are refused."""

from __future__ import annotations

import io
import os

import httpx
from PIL import Image

from tests.accounts_helpers import register


def _jpeg_with_exif() -> bytes:
    img = Image.new("RGB", (600, 400), (200, 30, 90))
    exif = Image.Exif()
    exif[0x010F] = "SpyCamMaker"  # Make
    buf = io.BytesIO()
    img.save(buf, "JPEG", exif=exif.tobytes())
    return buf.getvalue()


def _png(size: tuple[int, int], mode: str = "RGB") -> bytes:
    buf = io.BytesIO()
    Image.new(mode, size).save(buf, "PNG")
    return buf.getvalue()


async def _put(http: httpx.AsyncClient, headers: dict[str, str], data: bytes,
               name: str = "me.png", kind: str = "image/png") -> httpx.Response:
    return await http.put("/api/v1/me/avatar", headers=headers,
                          files={"file": (name, data, kind)})


async def test_real_photo_is_reencoded_and_served_cacheable(http: httpx.AsyncClient,
                                                            unique: str) -> None:
    """A JPEG with EXIF becomes a square PNG without metadata; the profile points at it and it
    is served as an immutable image."""
    ana = await register(http, unique, prefix="av")
    photo = _jpeg_with_exif()
    assert b"SpyCamMaker" in photo
    r = await _put(http, ana.headers, photo, "holiday.jpg", "image/jpeg")
    assert r.status_code == 200, r.text
    url = r.json()["avatar_url"]
    me = await http.get("/api/v1/me", headers=ana.headers)
    assert me.json()["avatar_url"] == url
    served = await http.get(httpx.URL(url).path)
    assert served.status_code == 200 and served.headers["content-type"] == "image/png"
    assert "immutable" in served.headers["cache-control"] and served.headers["etag"]
    assert b"SpyCamMaker" not in served.content
    with Image.open(io.BytesIO(served.content)) as img:
        assert img.format == "PNG" and img.size == (256, 256)
    small = await http.get(httpx.URL(url).path.replace("/256.png", "/64.png"))
    assert small.status_code == 200
    gone = await http.delete("/api/v1/me/avatar", headers=ana.headers)
    assert gone.status_code == 204
    assert (await http.get(httpx.URL(url).path)).status_code == 404


async def test_bogus_polyglot_and_oversized_uploads_are_refused(http: httpx.AsyncClient,
                                                                unique: str) -> None:
    """HTML named .png and a fake GIF are refused; a PNG carrying a script keeps only its
    pixels; too many pixels or bytes are refused."""
    bea = await register(http, unique, prefix="bv")
    for bogus in (b"<html><script>alert(1)</script></html>", b"GIF89a" + b"\x00" * 64):
        r = await _put(http, bea.headers, bogus)
        assert r.status_code == 422 and r.json()["code"] == "avatar_invalid", r.text
    polyglot = _png((50, 50)) + b"<script>alert('owned')</script>"
    r = await _put(http, bea.headers, polyglot)
    assert r.status_code == 200
    served = await http.get(httpx.URL(r.json()["avatar_url"]).path)
    assert b"<script>" not in served.content
    bomb = _png((5000, 4000), mode="1")  # 20 megapixels in a few kilobytes
    r = await _put(http, bea.headers, bomb)
    assert r.status_code == 422 and r.json()["code"] == "avatar_too_large", r.text
    r = await _put(http, bea.headers, os.urandom(1_100_000))
    assert r.status_code in (413, 422), r.text
    assert r.status_code != 422 or r.json()["code"] == "avatar_too_large"
    for path in ("/api/v1/avatars/1/zzzz/256.png", "/api/v1/avatars/1/0123456789abcdef/99.png",
                 f"/api/v1/avatars/{2**63}/0123456789abcdef/256.png"):
        assert (await http.get(path)).status_code == 404
