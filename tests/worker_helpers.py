"""Test helpers for the worker: settings, an in-process burst worker, a DB handle, a local SMTP
server (aiosmtpd) and a local Web Push endpoint that decrypts what it receives."""

from __future__ import annotations

import email
import email.policy
import http.server
import json
import subprocess
import sys
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import http_ece
import jwt
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from redis.asyncio import Redis

from domain.db import Database
from domain.notifications.webpush import b64url, b64url_decode
from domain.settings import Settings, load_settings
from jobs.worker import build_worker
from tests.support import ROOT, free_port


def worker_settings(engines: Any, **env: str) -> Settings:
    """Settings of a worker on the session engines (fast retries, test data dir)."""
    return load_settings(engines.env(READALONG_JOB_RETRY_DELAY="0.05",
                                     READALONG_DATA_DIR=str(engines.data_dir), **env))


async def run_worker(settings: Settings, **overrides: Any) -> Any:
    """Run a real arq worker in this process until the queue is empty; returns it (counters)."""
    worker = build_worker(settings, burst=True, handle_signals=False, **overrides)
    try:
        await worker.async_run()
    finally:
        await worker.close()
    return worker


@asynccontextmanager
async def db_and_redis(engines: Any) -> AsyncIterator[tuple[Database, Redis]]:
    db = Database(engines.database_url, pool_size=3)
    await db.connect()
    redis = Redis.from_url(engines.redis_url)
    try:
        yield db, redis
    finally:
        await redis.aclose()
        await db.close()


class MailBox:
    """aiosmtpd handler: keeps received messages; refuses the first `fail_first` with 451 (with
    `fail_to`, only those addressed to it: other tests' queued mail may reach a shared box)."""

    def __init__(self, fail_first: int = 0, fail_to: str | None = None) -> None:
        self.messages: list[EmailMessage] = []
        self.fail_first = fail_first
        self.fail_to = fail_to
        self.attempts = 0
        self.refused = 0

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        self.attempts += 1
        aimed = self.fail_to is None or self.fail_to in envelope.rcpt_tos
        if aimed and self.refused < self.fail_first:
            self.refused += 1
            return "451 4.3.0 try again later"
        msg = email.message_from_bytes(envelope.content or b"", policy=email.policy.default)
        self.messages.append(msg)  # type: ignore[arg-type]
        return "250 OK"

    def to(self, address: str) -> list[EmailMessage]:
        return [m for m in self.messages if m["To"] == address]


@asynccontextmanager
async def smtp_server(fail_first: int = 0, login: tuple[str, str] | None = None
                      ) -> AsyncIterator[tuple[MailBox, int]]:
    """A real SMTP server on 127.0.0.1; with `login`, AUTH (PLAIN/LOGIN) is required."""
    box = MailBox(fail_first)
    port = free_port()
    extra: dict[str, Any] = {}
    if login is not None:
        def authenticator(server: Any, session: Any, envelope: Any, mechanism: str,
                          auth_data: Any) -> AuthResult:
            ok = isinstance(auth_data, LoginPassword) and \
                (auth_data.login.decode(), auth_data.password.decode()) == login
            return AuthResult(success=ok)

        extra = {"authenticator": authenticator, "auth_required": True,
                 "auth_require_tls": False}
    controller = Controller(box, hostname="127.0.0.1", port=port, **extra)
    controller.start()
    try:
        yield box, port
    finally:
        controller.stop()


def body_of(msg: EmailMessage, subtype: str = "plain") -> str:
    part = msg.get_body(preferencelist=(subtype,))
    assert part is not None, f"no text/{subtype} part"
    return str(part.get_content())


@dataclass
class PushEndpoint:
    """A browser's push subscription and the push service it points at, on 127.0.0.1."""

    status: int = 201
    fail_first: int = 0  # answer 503 to this many requests first
    received: list[dict[str, Any]] = field(default_factory=list)
    headers: list[dict[str, str]] = field(default_factory=list)
    key: ec.EllipticCurvePrivateKey = field(
        default_factory=lambda: ec.generate_private_key(ec.SECP256R1()))
    auth: bytes = field(default_factory=lambda: b"0123456789abcdef")
    port: int = 0

    @property
    def subscription(self) -> dict[str, Any]:
        pub = self.key.public_key().public_bytes(serialization.Encoding.X962,
                                                 serialization.PublicFormat.UncompressedPoint)
        return {"endpoint": f"http://127.0.0.1:{self.port}/push/{id(self):x}",
                "keys": {"p256dh": b64url(pub), "auth": b64url(self.auth)}}

    def decrypt(self, body: bytes) -> dict[str, Any]:
        plain = http_ece.decrypt(body, private_key=self.key, auth_secret=self.auth,
                                 version="aes128gcm")
        return json.loads(plain)  # type: ignore[no-any-return]


def vapid_claims(authorization: str, public_key_b64: str) -> dict[str, Any]:
    """Check a `vapid t=..., k=...` header against the server's public key; the JWT claims."""
    fields = dict(p.strip().split("=", 1) for p in authorization[len("vapid "):].split(","))
    assert fields["k"] == public_key_b64
    point = b64url_decode(fields["k"])
    pub = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), point)
    return jwt.decode(fields["t"], pub, algorithms=["ES256"],  # type: ignore[no-any-return]
                      options={"verify_aud": False})


class _PushServer(http.server.ThreadingHTTPServer):
    def shutdown(self) -> None:
        """Stop serving and close the listening socket too."""
        super().shutdown()
        self.server_close()


def start_push_endpoint(endpoint: PushEndpoint) -> http.server.ThreadingHTTPServer:
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            endpoint.headers.append(dict(self.headers))
            status = 503 if len(endpoint.headers) <= endpoint.fail_first else endpoint.status
            if status < 300:
                endpoint.received.append(endpoint.decrypt(body))
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            return None

    httpd = _PushServer(("127.0.0.1", 0), Handler)
    endpoint.port = httpd.server_address[1]
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    return httpd


def spawn_worker(env: dict[str, str], log_path: Path) -> subprocess.Popen[bytes]:
    """`readalong worker` as its own process, its log lines going to `log_path`."""
    with open(log_path, "ab") as out:
        return subprocess.Popen([sys.executable, "-m", "server.cli", "worker"], cwd=ROOT,
                                env=env, stdout=out, stderr=subprocess.STDOUT)
