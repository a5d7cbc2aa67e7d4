"""The one check of every row id a request carries in its path or query, before any handler.

Litestar parses `{x:int}` path parameters and `int` query parameters into Python ints of any
size; an id past PostgreSQL's BIGINT would only fail deep in asyncpg (a 500). This ASGI
middleware runs after routing, for every route, so no controller repeats the rule:

- an `int` path parameter outside 1..2**63-1 names nothing we store: 404 problem details;
- an integer query parameter that carries an id (typed `domain.ids.Id`, or named `id`,
  `*_id` or `*_ids` and typed `int`) outside that range: 422 `invalid` naming the parameter.

Ids in bodies are typed `Id` in their structs; `server/problems.py` answers their range errors
with the same 422.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl

import msgspec
from litestar.types import ASGIApp, Receive, Scope, Send

from domain.errors import Invalid, NotFound
from domain.ids import MAX_ID, in_range

_OPT_KEY = "readalong_id_queries"
#: The code an unknown id of that path parameter answers with, so an out-of-range one matches.
_NOT_FOUND_CODES = {
    "book_id": "book_not_found", "session_id": "session_not_found",
    "message_id": "message_not_found", "annotation_id": "annotation_not_found",
    "notification_id": "notification_not_found", "subscription_id": "subscription_not_found",
    "user_id": "user_not_found", "failure_id": "failed_job_not_found",
}


def _carries_id(name: str, field: Any) -> bool:
    """True when the handler parameter `field` is an integer id (by type or by name)."""
    types = [field, *getattr(field, "inner_types", ())]
    if not any(getattr(t, "annotation", None) is int for t in types):
        return False
    for t in types:
        for meta in getattr(t, "metadata", ()):
            if isinstance(meta, msgspec.Meta) and meta.le == MAX_ID:
                return True
    return name == "id" or name.endswith(("_id", "_ids"))


def id_queries(handler: Any) -> tuple[str, ...]:
    """The query parameter names of `handler` that carry ids (computed once, kept in the
    handler's own `opt`)."""
    opt = getattr(handler, "opt", None)
    cached = opt.get(_OPT_KEY) if opt is not None else None
    if cached is not None:
        return cached  # type: ignore[no-any-return]
    names: list[str] = []
    signature = getattr(handler, "parsed_fn_signature", None)
    path_names = _path_params(handler) if hasattr(handler, "paths") else set()
    for name, field in (signature.parameters.items() if signature else ()):
        kwarg = getattr(field, "kwarg_definition", None)
        if getattr(kwarg, "header", None) or getattr(kwarg, "cookie", None):
            continue
        alias = getattr(kwarg, "query", None) or name
        if name in path_names:
            continue
        if _carries_id(alias, field):
            names.append(alias)
    result = tuple(names)
    if opt is not None:
        opt[_OPT_KEY] = result
    return result


def _path_params(handler: Any) -> set[str]:
    names: set[str] = set()
    for path in handler.paths:
        for part in path.split("{")[1:]:
            names.add(part.split(":", 1)[0].split("}", 1)[0])
    return names


def check_ids(scope: Scope) -> None:
    """Raise NotFound for an out-of-range path id, Invalid for an out-of-range query id."""
    for name, value in (scope.get("path_params") or {}).items():
        if type(value) is int and not in_range(value):
            what = (f"no {name.removesuffix('_id').replace('_', ' ')} has id {value}"
                    if name.endswith("_id") or name == "id" else f"nothing at {name} {value}")
            raise NotFound(what, code=_NOT_FOUND_CODES.get(name, "not_found"))
    handler = scope.get("route_handler")
    names = id_queries(handler) if handler is not None else ()
    if not names or not scope.get("query_string"):
        return
    query = scope["query_string"].decode("latin-1")
    for key, raw in parse_qsl(query, keep_blank_values=True):
        if key not in names:
            continue
        try:
            number = int(raw)
        except ValueError:
            continue  # not an integer at all: Litestar's own validation answers 400
        if not in_range(number):
            raise Invalid(f"{key} must be an id between 1 and {MAX_ID}", code="invalid",
                          field=key, source="query")


def id_guard(app: ASGIApp) -> ASGIApp:
    """Litestar middleware (runs after routing, inside the exception handlers)."""

    async def guard(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            check_ids(scope)
        await app(scope, receive, send)

    return guard
