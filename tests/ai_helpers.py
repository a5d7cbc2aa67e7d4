"""Test helpers for the AI area: a local OpenAI-compatible endpoint (embeddings and chat) on
127.0.0.1, and a guard that makes every connection to anything but loopback fail."""

from __future__ import annotations

import hashlib
import http.server
import json
import re
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

FAKE_DIM = 16


def fake_vector(text: str) -> list[float]:
    """A bag-of-words hash vector: texts sharing words are close (deterministic)."""
    vec = [0.0] * FAKE_DIM
    for word in re.findall(r"\w+", text.lower()):
        vec[hashlib.sha256(word.encode()).digest()[0] % FAKE_DIM] += 1.0
    vec[0] += 0.01  # never all zero
    return vec


@dataclass
class FakeAI:
    """What the fake endpoint saw, and how it should behave."""

    port: int = 0
    fail: bool = False          # answer 500
    delay: float = 0.0          # seconds before answering
    chat_reply: str = "A short summary."
    requests: list[dict[str, Any]] = field(default_factory=list)
    headers: list[dict[str, str]] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"


@contextmanager
def fake_openai() -> Iterator[FakeAI]:
    """An OpenAI-compatible /v1/embeddings and /v1/chat/completions server on 127.0.0.1."""
    state = FakeAI()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", "0"))))
            state.requests.append({"path": self.path, **body})
            state.headers.append(dict(self.headers))
            if state.delay:
                time.sleep(state.delay)
            if state.fail:
                payload, status = {"error": {"message": "boom"}}, 500
            elif self.path.endswith("/embeddings"):
                data = [{"index": i, "embedding": fake_vector(t), "object": "embedding"}
                        for i, t in enumerate(body["input"])]
                payload, status = {"data": data, "model": body["model"]}, 200
            elif self.path.endswith("/chat/completions"):
                payload, status = {"choices": [{"index": 0, "message": {
                    "role": "assistant", "content": state.chat_reply}}]}, 200
            else:
                payload, status = {"error": "not found"}, 404
            raw = json.dumps(payload).encode()
            try:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)
            except OSError:
                pass  # the client gave up (timeout tests)

        def log_message(self, *args: Any) -> None:
            return None

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    state.port = httpd.server_address[1]
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        yield state
    finally:
        httpd.shutdown()
        httpd.server_close()


# Run in a fresh interpreter by the offline test: no socket may reach past loopback.
OFFLINE_GUARD = """
import socket
_real_connect = socket.socket.connect
attempts = []
def guarded(self, address):
    host = address[0] if isinstance(address, tuple) else address
    if host not in ("127.0.0.1", "::1", "localhost"):
        attempts.append(host)
        raise OSError("network unreachable (test guard)")
    return _real_connect(self, address)
socket.socket.connect = guarded
_real_getaddrinfo = socket.getaddrinfo
def no_dns(host, *a, **k):
    if host not in ("127.0.0.1", "::1", "localhost"):
        attempts.append(host)
        raise socket.gaierror("no DNS (test guard)")
    return _real_getaddrinfo(host, *a, **k)
socket.getaddrinfo = no_dns
"""


def loopback_only() -> None:
    """Make this process's connections to anything but loopback fail (used in a subprocess)."""
    exec(OFFLINE_GUARD, {"socket": socket})
