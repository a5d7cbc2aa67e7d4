"""Book covers through the server (READALONG_COVERS_PROXY=1): a local image server on
127.0.0.1 serves a real photo, an oversized file, a pixel bomb and a bogus one; clients only
ever see the server's own cover URL, get a cached, re-encoded JPEG, and clear errors."""

from __future__ import annotations

import io
import threading
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest
import pytest_asyncio
from PIL import Image

from domain.catalog.store import REFRESH_SEARCH
from tests.fixture_helpers import running_server
from tests.support import ServerProcess, free_port
from tests.test_sessions_helpers import db_exec

MAX_BYTES = 300_000


def _photo() -> bytes:
    img = Image.new("RGB", (1200, 1800), (30, 90, 160))
    exif = Image.Exif()
    exif[0x010F] = "TrackingCam"
    buf = io.BytesIO()
    img.save(buf, "JPEG", exif=exif.tobytes(), quality=90)
    return buf.getvalue()


def _pixel_bomb() -> bytes:
    buf = io.BytesIO()
    Image.new("1", (6000, 6000)).save(buf, "PNG")  # 36 Mpx in a few kilobytes
    return buf.getvalue()


FILES = {"/photo.jpg": ("image/jpeg", _photo()),
         "/huge.jpg": ("image/jpeg", b"\xff\xd8" + b"\x00" * (MAX_BYTES + 10)),
         "/bomb.png": ("image/png", _pixel_bomb()),
         "/bogus.jpg": ("image/jpeg", b"<html><script>alert(1)</script></html>")}


@pytest.fixture(scope="module")
def origin() -> Iterator[tuple[str, Counter[str]]]:
    """A third-party image server; counts the requests it gets per path."""
    hits: Counter[str] = Counter()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def do_GET(self) -> None:
            hits[self.path] += 1
            kind, body = FILES.get(self.path, ("text/plain", b""))
            self.send_response(200 if self.path in FILES else 404)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    port = free_port()
    httpd = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{port}", hits
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(5)


@pytest.fixture(scope="module")
def node(engines: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    env = engines.env(READALONG_COVERS_PROXY="1", READALONG_COVER_MAX_BYTES=str(MAX_BYTES),
                      READALONG_COVER_MAX_PIXELS="4000000",
                      READALONG_DATA_DIR=str(tmp_path_factory.mktemp("covers-data")))
    with running_server(env, tmp_path_factory.mktemp("covers-logs")) as proc:
        yield proc


@pytest_asyncio.fixture
async def api(node: ServerProcess) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=node.base_url, timeout=20) as client:
        yield client


async def _book(engines: Any, title: str, cover: str | None) -> int:
    [row] = await db_exec(engines.database_url, "INSERT INTO books (title, title_key, cover_url)"
                          " VALUES ($1, $2, $3) RETURNING id", title, title.lower(), cover)
    await db_exec(engines.database_url, REFRESH_SEARCH, [row["id"]])
    return int(row["id"])


async def test_clients_get_a_cached_reencoded_cover_from_this_server(
        api: httpx.AsyncClient, engines: Any, origin: tuple[str, Counter[str]],
        unique: str) -> None:
    """The book's cover_url points at this server, never the third party; the image is
    fetched from the third party once, served as a metadata-free JPEG of at most 800 px with
    caching headers, and a book without a cover answers 404."""
    base, hits = origin
    book = await _book(engines, f"Covered {unique}", f"{base}/photo.jpg")
    detail = (await api.get(f"/api/v1/books/{book}")).json()
    assert detail["cover_url"].endswith(f"/api/v1/books/{book}/cover")
    assert not detail["cover_url"].startswith(base)
    found = (await api.get("/api/v1/books", params={"q": f"Covered {unique}"})).json()
    assert [b["cover_url"] for b in found["items"]] == [detail["cover_url"]]
    first = await api.get(httpx.URL(detail["cover_url"]).path)
    assert first.status_code == 200, first.text
    assert first.headers["content-type"] == "image/jpeg"
    assert "max-age" in first.headers["cache-control"] and first.headers["etag"]
    assert b"TrackingCam" not in first.content
    with Image.open(io.BytesIO(first.content)) as img:
        assert img.format == "JPEG" and img.size == (533, 800)
    again = await api.get(f"/api/v1/books/{book}/cover")
    assert again.content == first.content
    assert hits["/photo.jpg"] == 1  # cached: the third party saw one request
    bare = await _book(engines, f"Bare {unique}", None)
    r = await api.get(f"/api/v1/books/{bare}/cover")
    assert r.status_code == 404 and r.json()["code"] == "cover_not_found"


@pytest.mark.parametrize("path", ["/huge.jpg", "/bomb.png", "/bogus.jpg", "/missing.jpg"])
async def test_oversized_bombs_and_bogus_covers_are_refused(
        api: httpx.AsyncClient, engines: Any, origin: tuple[str, Counter[str]], unique: str,
        path: str) -> None:
    """A too-big file, too many pixels, a non-image or a missing image answers a clear 502
    problem, and the third party is not asked again on the next view."""
    base, hits = origin
    book = await _book(engines, f"Bad cover {unique}", f"{base}{path}?{unique}")
    before = sum(n for p, n in hits.items() if p.startswith(path))
    for _ in range(2):
        r = await api.get(f"/api/v1/books/{book}/cover")
        assert r.status_code == 502 and r.json()["code"] == "cover_unavailable", r.text
    assert sum(n for p, n in hits.items() if p.startswith(path)) == before + 1
