"""A small OpenID provider for the tests, on 127.0.0.1 in a thread: discovery, JWKS, an
authorization endpoint that signs in whoever the test says, and a token endpoint that checks
the client secret, the redirect URI and the PKCE verifier. Knobs let a test forge tokens."""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.support import free_port

CLIENT_ID = "readalong-test"
CLIENT_SECRET = "s3cret-of-the-client"


@dataclass
class Provider:
    issuer: str
    key: Any = field(default_factory=lambda: rsa.generate_private_key(65537, 2048))
    user: dict[str, Any] = field(default_factory=dict)  # claims of the next sign-in
    nonce_override: str | None = None  # sign a token with this nonce instead
    forge: bool = False  # sign with a key that is not in the JWKS (same kid)
    sign_with: Any = None  # sign with this key instead (another provider's, say)
    codes: dict[str, dict[str, Any]] = field(default_factory=dict)

    def jwks(self) -> dict[str, Any]:
        pub = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(self.key.public_key()))
        return {"keys": [{**pub, "kid": "k1", "use": "sig", "alg": "RS256"}]}

    def id_token(self, grant: dict[str, Any]) -> str:
        now = int(time.time())
        claims = {"iss": self.issuer, "aud": CLIENT_ID, "iat": now, "exp": now + 300,
                  "nonce": self.nonce_override or grant["nonce"], **grant["user"]}
        key = rsa.generate_private_key(65537, 2048) if self.forge else \
            (self.sign_with or self.key)
        return jwt.encode(claims, key, algorithm="RS256", headers={"kid": "k1"})


def _handler(provider: Provider) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def _json(self, status: int, body: dict[str, Any]) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            url = urlsplit(self.path)
            if url.path == "/.well-known/openid-configuration":
                base = provider.issuer
                self._json(200, {"issuer": base, "authorization_endpoint": f"{base}/authorize",
                                 "token_endpoint": f"{base}/token", "jwks_uri": f"{base}/jwks",
                                 "response_types_supported": ["code"],
                                 "code_challenge_methods_supported": ["S256"]})
            elif url.path == "/jwks":
                self._json(200, provider.jwks())
            elif url.path == "/authorize":
                q = {k: v[0] for k, v in parse_qs(url.query).items()}
                code = secrets.token_urlsafe(16)
                provider.codes[code] = {**q, "user": dict(provider.user)}
                self.send_response(302)
                self.send_header("Location", f"{q['redirect_uri']}?" + urlencode(
                    {"code": code, "state": q["state"]}))
                self.end_headers()
            else:
                self._json(404, {"error": "not_found"})

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            form = {k: v[0] for k, v in parse_qs(self.rfile.read(length).decode()).items()}
            grant = provider.codes.pop(form.get("code", ""), None)
            verifier = form.get("code_verifier", "")
            challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()) \
                .rstrip(b"=").decode()
            if grant is None or form.get("client_secret") != CLIENT_SECRET \
                    or form.get("client_id") != CLIENT_ID \
                    or form.get("redirect_uri") != grant["redirect_uri"] \
                    or challenge != grant["code_challenge"]:
                self._json(400, {"error": "invalid_grant"})
                return
            self._json(200, {"access_token": "at", "token_type": "Bearer",
                             "id_token": provider.id_token(grant)})

    return Handler


@contextmanager
def running_provider() -> Iterator[Provider]:
    port = free_port()
    provider = Provider(issuer=f"http://127.0.0.1:{port}")
    httpd = ThreadingHTTPServer(("127.0.0.1", port), _handler(provider))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield provider
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(5)
