"""Which browser origins may open `/ws`: the configured list, and in development the address the
server listens on (127.0.0.1, localhost, the bind host and this machine's name, at its port)."""

from __future__ import annotations

import contextlib
import socket
from typing import Any
from urllib.parse import urlsplit

from domain.settings import Settings

DEFAULT_ORIGINS = Settings().allowed_origins


class OriginPolicy:
    """`refusal(origin, scope)` is None for an allowed origin, else the reason it is refused."""

    def __init__(self, settings: Settings) -> None:
        self.allowed = {o.rstrip("/") for o in settings.allowed_origins}
        # development with READALONG_ALLOWED_ORIGINS left alone: follow the listening address
        self.follow_listen = (settings.is_development
                              and tuple(settings.allowed_origins) == DEFAULT_ORIGINS)
        self.port = settings.port
        names = {"127.0.0.1", "localhost", "::1", settings.host.lower()}
        with contextlib.suppress(OSError):
            names.add(socket.gethostname().lower())
        self.hosts = names

    def refusal(self, origin: str | None, scope: Any) -> str | None:
        if origin is None:  # not a browser: nothing to check (auth still applies)
            return None
        if origin.rstrip("/") in self.allowed:
            return None
        if not self.follow_listen:
            return "not in READALONG_ALLOWED_ORIGINS"
        try:
            parts = urlsplit(origin)
            port = parts.port or (443 if parts.scheme == "https" else 80)
        except ValueError:
            return "not a valid origin"
        server = scope.get("server") or (None, self.port)
        listening = server[1] or self.port
        hosts = self.hosts | {str(server[0]).lower()} if server[0] else self.hosts
        if parts.scheme not in ("http", "https") or (parts.hostname or "") not in hosts:
            return "not this server's address (development default; set " \
                   "READALONG_ALLOWED_ORIGINS to allow it)"
        if port != listening:
            return f"not this server's port {listening} (development default)"
        return None
