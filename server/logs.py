"""Structured logging: JSON lines in production, readable lines in development, with request ids."""

from __future__ import annotations

import contextvars
import logging
import sys
import time

import orjson

request_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "request_id", default=None)
# A holder (not the id itself): the middleware binds a fresh one per request and the auth
# dependency fills it in, so lines logged later in the request, also from tasks Litestar
# spawns while resolving dependencies, see the caller.
_user_holder: contextvars.ContextVar[dict[str, int] | None] = contextvars.ContextVar(
    "request_user", default=None)


def bind_request_user() -> contextvars.Token[dict[str, int] | None]:
    """Start a request: no caller known yet (the middleware calls this)."""
    return _user_holder.set({})


def reset_request_user(token: contextvars.Token[dict[str, int] | None]) -> None:
    _user_holder.reset(token)


def set_request_user(user_id: int) -> None:
    """The request's caller is authenticated as `user_id` (the auth dependency calls this)."""
    holder = _user_holder.get()
    if holder is not None:
        holder["user_id"] = user_id


def request_user() -> int | None:
    holder = _user_holder.get()
    return holder.get("user_id") if holder else None


class _JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        rid = request_id_var.get()
        if rid:
            entry["request_id"] = rid
        uid = request_user()
        if uid is not None:
            entry["user_id"] = uid
        for key in ("method", "path", "status", "duration_ms", "client"):
            if hasattr(record, key):
                entry[key] = getattr(record, key)
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return orjson.dumps(entry).decode()


class _TextFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        base = super().format(record)
        rid = request_id_var.get()
        uid = request_user()
        tags = " ".join(t for t in (rid or "", f"user={uid}" if uid is not None else "") if t)
        return f"{base} [{tags}]" if tags else base


def configure_logging(fmt: str, level: str) -> None:
    handler = logging.StreamHandler(sys.stderr)
    if fmt == "json":
        handler.setFormatter(_JsonFormatter())
    else:
        handler.setFormatter(_TextFormatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s",
                                            "%H:%M:%S"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True
    logging.getLogger("uvicorn.access").setLevel(logging.WARNING)
    logging.getLogger("piccolo").setLevel(logging.WARNING)
