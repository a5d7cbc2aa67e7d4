"""A real S3-compatible server for the tests: moto's standalone server (its own HTTP server,
S3 REST API, XML listings) on 127.0.0.1 in a thread, and the READALONG_S3_* settings for it."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import boto3
from moto.server import ThreadedMotoServer

from tests.support import free_port

ACCESS_KEY = "readalong-test-key"
SECRET_KEY = "readalong-test-secret/with+odd=chars"
REGION = "eu-west-3"


@dataclass
class S3Server:
    endpoint: str

    def client(self) -> object:
        return boto3.client("s3", endpoint_url=self.endpoint, aws_access_key_id=ACCESS_KEY,
                            aws_secret_access_key=SECRET_KEY, region_name=REGION)

    def new_bucket(self) -> str:
        name = f"ra-{uuid.uuid4().hex[:12]}"
        self.client().create_bucket(  # type: ignore[attr-defined]
            Bucket=name, CreateBucketConfiguration={"LocationConstraint": REGION})
        return name

    def keys(self, bucket: str, prefix: str = "") -> list[str]:
        out = self.client().list_objects_v2(Bucket=bucket, Prefix=prefix)  # type: ignore[attr-defined]
        return sorted(o["Key"] for o in out.get("Contents", []))

    def env(self, bucket: str) -> dict[str, str]:
        return {"READALONG_S3_ENDPOINT": self.endpoint, "READALONG_S3_BUCKET": bucket,
                "READALONG_S3_REGION": REGION, "READALONG_S3_ACCESS_KEY": ACCESS_KEY,
                "READALONG_S3_SECRET_KEY": SECRET_KEY}


@contextmanager
def running_s3() -> Iterator[S3Server]:
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield S3Server(endpoint=f"http://127.0.0.1:{port}")
    finally:
        server.stop()
