"""The one object store (domain/storage.py) against a real S3-compatible server on 127.0.0.1:
its SigV4 signatures equal botocore's, files go in and out intact, and avatars live in the
bucket when the settings say so."""

from __future__ import annotations

import datetime as dt
import hashlib
import io
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio
from botocore.auth import S3SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from PIL import Image

from domain.storage import LocalStorage, S3Storage, StorageError, sign_v4
from tests.accounts_helpers import register
from tests.storage_s3 import ACCESS_KEY, REGION, SECRET_KEY, S3Server, running_s3
from tests.support import ServerProcess


@pytest.fixture(scope="module")
def s3() -> Iterator[S3Server]:
    with running_s3() as server:
        yield server


@pytest.mark.parametrize(("method", "url", "body", "headers"), [
    ("PUT", "http://127.0.0.1:9000/bucket/avatars/42/ab-256.png", b"hello",
     {"content-type": "image/png", "content-length": "5"}),
    ("GET", "http://127.0.0.1:9000/bucket?continuation-token=a%2Bb&list-type=2&prefix=x%2Fy%2F",
     b"", {}),
])
def test_signature_is_the_one_aws_sdks_compute(method: str, url: str, body: bytes,
                                               headers: dict[str, str]) -> None:
    """Our SigV4 signature of a request equals botocore's for the same request and time, so
    any S3-compatible server accepts it."""
    now = dt.datetime(2026, 12, 1, 12, 0, 0, tzinfo=dt.UTC)
    mine = sign_v4(method, url, headers, hashlib.sha256(body).hexdigest(), access_key="AK",
                   secret_key="SK/x+y", region="eu-west-3", now=now)
    req = AWSRequest(method=method, url=url, data=body,
                     headers={k: v for k, v in mine.items() if k != "Authorization"})
    req.context["timestamp"] = now.strftime("%Y%m%dT%H%M%SZ")
    auth = S3SigV4Auth(Credentials("AK", "SK/x+y"), "s3", "eu-west-3")
    theirs = auth.signature(auth.string_to_sign(req, auth.canonical_request(req)), req)
    assert mine["Authorization"].endswith(f"Signature={theirs}")
    assert "Credential=AK/20261201/eu-west-3/s3/aws4_request" in mine["Authorization"]


async def test_both_backends_keep_files_intact(s3: S3Server, tmp_path: Path) -> None:
    """The bucket and the folder store, list, stream and delete the same files the same way;
    keys that could escape the prefix are refused."""
    bucket = s3.new_bucket()
    big = tmp_path / "big.bin"
    big.write_bytes(hashlib.sha256(b"seed").digest() * 100_000)  # 3.2 MB, streamed
    stores: list[Any] = [
        S3Storage(s3.endpoint, bucket, access_key=ACCESS_KEY, secret_key=SECRET_KEY,
                  region=REGION, prefix="team/a"), LocalStorage(tmp_path / "local")]
    for store in stores:
        await store.put("x/one.txt", b"first", "text/plain")
        await store.put("x/two.txt", b"second")
        await store.put_file("dump.bin", big)
        assert await store.get("x/one.txt") == b"first"
        assert await store.get("x/missing.txt") is None
        assert await store.list("x/") == ["x/one.txt", "x/two.txt"]
        back = tmp_path / "back.bin"
        assert await store.get_file("dump.bin", back) and back.read_bytes() == big.read_bytes()
        assert not await store.get_file("nothing.bin", back)
        await store.delete("x/one.txt")
        await store.delete("x/one.txt")  # twice: no error
        assert await store.list() == ["dump.bin", "x/two.txt"]
        for bad in ("../etc/passwd", "/abs", "a//b", "a/./b", "sp ace"):
            with pytest.raises(ValueError):
                await store.get(bad)
    assert s3.keys(bucket) == ["team/a/dump.bin", "team/a/x/two.txt"]
    wrong = S3Storage(s3.endpoint, "no-such-bucket", access_key=ACCESS_KEY,
                      secret_key=SECRET_KEY, region=REGION)
    with pytest.raises(StorageError):
        await wrong.put("a.txt", b"x")


@pytest.fixture(scope="module")
def s3_bucket(s3: S3Server) -> str:
    return s3.new_bucket()


@pytest.fixture(scope="module")
def s3_node(engines: Any, s3: S3Server, s3_bucket: str,
            tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    env = engines.env(READALONG_AVATAR_STORE="s3", READALONG_REGISTER_RATE="100000",
                      READALONG_DATA_DIR=str(tmp_path_factory.mktemp("s3-data")),
                      **s3.env(s3_bucket))
    proc = ServerProcess(env, log_dir=tmp_path_factory.mktemp("s3-logs")).start()
    try:
        yield proc
    finally:
        proc.stop()


@pytest_asyncio.fixture
async def api(s3_node: ServerProcess) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=s3_node.base_url, timeout=15) as client:
        yield client


async def test_avatars_live_in_the_bucket_when_configured(api: httpx.AsyncClient, s3: S3Server,
                                                          s3_bucket: str, unique: str) -> None:
    """With READALONG_AVATAR_STORE=s3 an uploaded picture is stored in the bucket (both
    sizes), served by the server with caching headers, and removed from the bucket."""
    ana = await register(api, unique, prefix="s3a")
    buf = io.BytesIO()
    Image.new("RGB", (320, 200), (10, 120, 200)).save(buf, "JPEG")
    r = await api.put("/api/v1/me/avatar", headers=ana.headers,
                      files={"file": ("me.jpg", buf.getvalue(), "image/jpeg")})
    assert r.status_code == 200, r.text
    keys = s3.keys(s3_bucket, f"avatars/{ana.id}/")
    assert len(keys) == 2 and all(k.endswith(("-256.png", "-64.png")) for k in keys)
    served = await api.get(httpx.URL(r.json()["avatar_url"]).path)
    assert served.status_code == 200 and "immutable" in served.headers["cache-control"]
    with Image.open(io.BytesIO(served.content)) as img:
        assert img.size == (256, 256)
    assert (await api.delete("/api/v1/me/avatar", headers=ana.headers)).status_code == 204
    assert s3.keys(s3_bucket, f"avatars/{ana.id}/") == []
    assert (await api.get(httpx.URL(r.json()["avatar_url"]).path)).status_code == 404
