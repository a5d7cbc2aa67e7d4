"""ASGI middleware: request ids, security headers and one access-log line per request."""

from __future__ import annotations

import logging
import time
import uuid
from typing import Any

from litestar.types import ASGIApp, Message, Receive, Scope, Send

from server.logs import bind_request_user, request_id_var, reset_request_user

access_log = logging.getLogger("readalong.access")

SECURITY_HEADERS: list[tuple[bytes, bytes]] = [
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"cross-origin-opener-policy", b"same-origin"),
]
# The web client (/app/) may ask for the microphone of its own origin: the audio stage.
PERMISSIONS = b"camera=(), microphone=(), geolocation=()"
PERMISSIONS_APP = b"camera=(), microphone=(self), geolocation=()"
# Pages (the web client, the docs viewer) load everything from this origin; the docs viewer
# starts itself with an inline script.
CSP_API = b"default-src 'none'; frame-ancestors 'none'"
CSP_PAGES = (b"default-src 'self'; script-src 'self' 'unsafe-inline'; "
             b"style-src 'self' 'unsafe-inline'; font-src 'self' data:; "
             b"img-src 'self' data: https:; "
             b"connect-src 'self' ws: wss:; frame-ancestors 'none'")


def request_context_middleware(app: ASGIApp) -> ASGIApp:
    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await app(scope, receive, send)
            return
        rid = None
        for name, value in scope["headers"]:
            if name == b"x-request-id":
                candidate = value.decode("latin-1")[:64]
                if candidate.replace("-", "").isalnum():
                    rid = candidate
                break
        rid = rid or uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = rid
        token = request_id_var.set(rid)
        user_token = bind_request_user()
        started = time.perf_counter()
        status_holder: dict[str, Any] = {}
        path: str = scope["path"]
        is_api = path.startswith("/api/") or path.startswith("/health") or path == "/metrics"

        async def send_wrapper(message: Message) -> None:
            if message["type"] == "http.response.start":
                status_holder["status"] = message["status"]
                headers = list(message.get("headers", []))
                headers.append((b"x-request-id", rid.encode()))
                headers.extend(SECURITY_HEADERS)
                headers.append((b"permissions-policy",
                                PERMISSIONS_APP if path.startswith("/app") else PERMISSIONS))
                headers.append((b"content-security-policy", CSP_API if is_api else CSP_PAGES))
                if scope.get("scheme") == "https":
                    headers.append((b"strict-transport-security", b"max-age=63072000"))
                message = {**message, "headers": headers}
            await send(message)

        try:
            await app(scope, receive, send_wrapper)
        finally:
            duration = (time.perf_counter() - started) * 1000
            client = scope.get("client")
            access_log.info(  # the formatter adds the request id and the caller's user id
                "%s %s %s %.1fms", scope["method"], path, status_holder.get("status", 0), duration,
                extra={"method": scope["method"], "path": path,
                       "status": status_holder.get("status", 0),
                       "duration_ms": round(duration, 2), "client": client[0] if client else None},
            )
            reset_request_user(user_token)
            request_id_var.reset(token)

    return middleware
