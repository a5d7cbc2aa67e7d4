"""One small object store for the files Readalong keeps outside PostgreSQL (avatars, backups):
a local folder, or an S3-compatible bucket (AWS S3, MinIO, Ceph RGW, Garage, R2, ...).

Both backends have the same four calls, `put`, `get`, `delete`, `list`, plus `put_file` and
`get_file` that stream a large file (a database dump) without holding it in memory. Keys are
`/`-separated relative names (`avatars/42/ab12-256.png`); anything that could climb out of
the folder or the prefix (`..`, a leading `/`, a backslash, a NUL) is refused.

The S3 backend speaks the REST API with path-style URLs (`<endpoint>/<bucket>/<key>`, which
every S3-compatible server accepts) over httpx, signing each request with AWS Signature
Version 4 (`sign_v4`, written here from AWS's published algorithm: canonical request, string
to sign, HMAC-SHA256 key derivation by date/region/service). The payload hash is always sent
(`x-amz-content-sha256`), so the server checks each upload's integrity too.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import hmac
import re
import xml.etree.ElementTree as ET
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Protocol
from urllib.parse import quote, urlsplit

import httpx

from domain.settings import Settings

CHUNK = 1 << 20
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
_KEY_RE = re.compile(r"^[A-Za-z0-9._\-/]+$")
_NS = "{http://s3.amazonaws.com/doc/2006-03-01/}"


class StorageError(Exception):
    """The store refused or could not be reached; the message says which call and why."""


def check_key(key: str) -> str:
    """`key` if it is a safe relative name; ValueError otherwise."""
    parts = key.split("/")
    if not key or len(key) > 900 or not _KEY_RE.match(key) or key.startswith("/") \
            or any(p in ("", ".", "..") for p in parts):
        raise ValueError(f"not a storage key: {key!r}")
    return key


class Storage(Protocol):
    """Where files go: `describe()` says where (for logs and the CLI)."""

    def describe(self) -> str: ...

    async def put(self, key: str, data: bytes, content_type: str = ...) -> None: ...

    async def get(self, key: str) -> bytes | None: ...

    async def delete(self, key: str) -> None: ...

    async def list(self, prefix: str = "") -> list[str]: ...

    async def put_file(self, key: str, path: Path) -> None: ...

    async def get_file(self, key: str, path: Path) -> bool: ...


class LocalStorage:
    """Files under one folder; writes go to a temporary name first, then are renamed."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def describe(self) -> str:
        return str(self.root)

    def _path(self, key: str) -> Path:
        return self.root / check_key(key)

    async def put(self, key: str, data: bytes, content_type: str = "") -> None:
        path = self._path(key)

        def write() -> None:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(f".{path.name}.tmp")
            tmp.write_bytes(data)
            tmp.replace(path)

        await asyncio.to_thread(write)

    async def get(self, key: str) -> bytes | None:
        path = self._path(key)
        try:
            return await asyncio.to_thread(path.read_bytes)
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            return None

    async def delete(self, key: str) -> None:
        await asyncio.to_thread(self._path(key).unlink, missing_ok=True)

    async def list(self, prefix: str = "") -> list[str]:
        def walk() -> list[str]:
            if not self.root.is_dir():
                return []
            return sorted(str(p.relative_to(self.root)) for p in self.root.rglob("*")
                          if p.is_file() and not p.name.startswith(".")
                          and str(p.relative_to(self.root)).startswith(prefix))
        return await asyncio.to_thread(walk)

    async def put_file(self, key: str, path: Path) -> None:
        target = self._path(key)

        def copy() -> None:
            target.parent.mkdir(parents=True, exist_ok=True)
            tmp = target.with_name(f".{target.name}.tmp")
            with path.open("rb") as src, tmp.open("wb") as dst:
                for chunk in iter(lambda: src.read(CHUNK), b""):
                    dst.write(chunk)
            tmp.replace(target)

        await asyncio.to_thread(copy)

    async def get_file(self, key: str, path: Path) -> bool:
        source = self._path(key)
        if not source.is_file():
            return False
        await asyncio.to_thread(lambda: path.write_bytes(source.read_bytes())
                                if source.stat().st_size < CHUNK else _copy(source, path))
        return True


def _copy(source: Path, target: Path) -> None:
    with source.open("rb") as src, target.open("wb") as dst:
        for chunk in iter(lambda: src.read(CHUNK), b""):
            dst.write(chunk)


def _hmac(key: bytes, text: str) -> bytes:
    return hmac.new(key, text.encode(), hashlib.sha256).digest()


def sign_v4(method: str, url: str, headers: dict[str, str], payload_sha256: str, *,
            access_key: str, secret_key: str, region: str, service: str = "s3",
            now: dt.datetime | None = None) -> dict[str, str]:
    """`headers` plus `x-amz-date`, `x-amz-content-sha256` and the SigV4 `Authorization`.

    `url` carries the query already encoded the way it is sent; every given header is signed
    (names lower-cased, values trimmed), and `host` is added from the URL."""
    when = (now or dt.datetime.now(dt.UTC)).astimezone(dt.UTC)
    stamp, day = when.strftime("%Y%m%dT%H%M%SZ"), when.strftime("%Y%m%d")
    parts = urlsplit(url)
    host = parts.netloc
    out = {**headers, "x-amz-date": stamp, "x-amz-content-sha256": payload_sha256}
    signed = {k.lower(): " ".join(str(v).split()) for k, v in out.items()}
    signed["host"] = host
    names = sorted(signed)
    pairs = sorted(tuple(p.split("=", 1)) if "=" in p else (p, "")
                   for p in parts.query.split("&") if p)
    canonical = "\n".join([
        method, parts.path or "/", "&".join(f"{k}={v}" for k, v in pairs),
        "".join(f"{n}:{signed[n]}\n" for n in names), ";".join(names), payload_sha256])
    scope = f"{day}/{region}/{service}/aws4_request"
    to_sign = "\n".join(["AWS4-HMAC-SHA256", stamp, scope,
                         hashlib.sha256(canonical.encode()).hexdigest()])
    key = _hmac(_hmac(_hmac(_hmac(("AWS4" + secret_key).encode(), day), region), service),
                "aws4_request")
    signature = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
    out["Authorization"] = (f"AWS4-HMAC-SHA256 Credential={access_key}/{scope}, "
                            f"SignedHeaders={';'.join(names)}, Signature={signature}")
    return out


def _q(value: str) -> str:
    return quote(value, safe="-_.~")


class S3Storage:
    """An S3-compatible bucket (path-style), keys under `prefix`."""

    def __init__(self, endpoint: str, bucket: str, *, access_key: str, secret_key: str,
                 region: str = "us-east-1", prefix: str = "", timeout: float = 30.0) -> None:
        self.endpoint = endpoint.rstrip("/")
        self.bucket = bucket
        self.prefix = prefix.strip("/") + "/" if prefix.strip("/") else ""
        self.access_key, self.secret_key, self.region = access_key, secret_key, region
        self.timeout = timeout

    def describe(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}"

    def _url(self, key: str = "", query: str = "") -> str:
        path = f"/{_q(self.bucket)}/" + "/".join(_q(p) for p in key.split("/")) if key \
            else f"/{_q(self.bucket)}"
        return f"{self.endpoint}{path}" + (f"?{query}" if query else "")

    def _signed(self, method: str, url: str, payload_sha256: str,
                headers: dict[str, str] | None = None) -> dict[str, str]:
        return sign_v4(method, url, headers or {}, payload_sha256, access_key=self.access_key,
                       secret_key=self.secret_key, region=self.region)

    async def _send(self, method: str, url: str, payload_sha256: str = EMPTY_SHA256,
                    content: bytes | AsyncIterator[bytes] | None = None,
                    headers: dict[str, str] | None = None) -> httpx.Response:
        try:
            async with httpx.AsyncClient(timeout=self.timeout) as client:
                return await client.request(method, url, content=content, headers=self._signed(
                    method, url, payload_sha256, headers))
        except httpx.HTTPError as exc:
            raise StorageError(f"{method} {self.describe()}: {exc!r}") from exc

    @staticmethod
    def _check(r: httpx.Response, what: str, ok: tuple[int, ...] = (200,)) -> None:
        if r.status_code not in ok:
            raise StorageError(f"{what}: HTTP {r.status_code} {r.text[:300]}")

    async def put(self, key: str, data: bytes, content_type: str = "application/octet-stream"
                  ) -> None:
        full = self.prefix + check_key(key)
        r = await self._send("PUT", self._url(full), hashlib.sha256(data).hexdigest(), data,
                             {"content-type": content_type, "content-length": str(len(data))})
        self._check(r, f"PUT {full}")

    async def get(self, key: str) -> bytes | None:
        full = self.prefix + check_key(key)
        r = await self._send("GET", self._url(full))
        if r.status_code == 404:
            return None
        self._check(r, f"GET {full}")
        return r.content

    async def delete(self, key: str) -> None:
        full = self.prefix + check_key(key)
        self._check(await self._send("DELETE", self._url(full)), f"DELETE {full}",
                    (200, 204, 404))

    async def list(self, prefix: str = "") -> list[str]:
        keys: list[str] = []
        token: str | None = None
        while True:
            params = {"list-type": "2", "prefix": self.prefix + prefix}
            if token:
                params["continuation-token"] = token
            query = "&".join(f"{_q(k)}={_q(v)}" for k, v in sorted(params.items()))
            r = await self._send("GET", self._url(query=query))
            self._check(r, f"LIST {self.describe()}{prefix}")
            root = ET.fromstring(r.content)
            for item in root.iter(f"{_NS}Contents"):
                name = item.findtext(f"{_NS}Key") or ""
                keys.append(name[len(self.prefix):])
            if root.findtext(f"{_NS}IsTruncated") != "true":
                return sorted(keys)
            token = root.findtext(f"{_NS}NextContinuationToken")

    async def put_file(self, key: str, path: Path) -> None:
        """One streamed PUT (up to S3's 5 GiB single-object limit), hash computed first."""
        full = self.prefix + check_key(key)
        digest, size = await asyncio.to_thread(_file_sha256, path)

        async def chunks() -> AsyncIterator[bytes]:
            with path.open("rb") as fh:
                while chunk := await asyncio.to_thread(fh.read, CHUNK):
                    yield chunk

        r = await self._send("PUT", self._url(full), digest, chunks(), {
            "content-type": "application/octet-stream", "content-length": str(size)})
        self._check(r, f"PUT {full}")

    async def get_file(self, key: str, path: Path) -> bool:
        full = self.prefix + check_key(key)
        url = self._url(full)
        try:
            async with httpx.AsyncClient(timeout=self.timeout) as client, client.stream(
                    "GET", url, headers=self._signed("GET", url, EMPTY_SHA256)) as r:
                if r.status_code == 404:
                    return False
                if r.status_code != 200:
                    raise StorageError(f"GET {full}: HTTP {r.status_code}")
                with path.open("wb") as fh:
                    async for chunk in r.aiter_bytes(CHUNK):
                        fh.write(chunk)
        except httpx.HTTPError as exc:
            raise StorageError(f"GET {full}: {exc!r}") from exc
        return True


def _file_sha256(path: Path) -> tuple[str, int]:
    digest = hashlib.sha256()
    size = 0
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(CHUNK), b""):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


def s3_from_settings(settings: Settings, bucket: str | None = None,
                     prefix: str = "") -> S3Storage:
    """The S3 store READALONG_S3_* describe (another bucket/prefix for `s3://` backup URLs)."""
    if not settings.s3_endpoint or not (bucket or settings.s3_bucket):
        raise StorageError("set READALONG_S3_ENDPOINT and READALONG_S3_BUCKET to use S3")
    return S3Storage(settings.s3_endpoint, bucket or settings.s3_bucket,
                     access_key=settings.s3_access_key, secret_key=settings.s3_secret_key,
                     region=settings.s3_region, prefix=prefix)


def avatar_store(settings: Settings) -> Storage:
    """Avatars: `<data dir>/avatars` by default, `s3://<bucket>/avatars/` when
    READALONG_AVATAR_STORE=s3."""
    if settings.avatar_store == "s3":
        return s3_from_settings(settings, prefix="avatars")
    return LocalStorage(settings.data_path / "avatars")


def store_at(settings: Settings, where: str) -> Storage:
    """A backup destination: `s3://bucket/prefix` (READALONG_S3_* for endpoint and keys) or
    a local folder."""
    if where.startswith("s3://"):
        bucket, _, prefix = where[5:].partition("/")
        if not bucket:
            raise StorageError(f"{where}: name a bucket (s3://bucket/prefix)")
        return s3_from_settings(settings, bucket=bucket, prefix=prefix)
    return LocalStorage(Path(where))
