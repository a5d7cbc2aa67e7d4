"""The OpenAPI document's shared parts: the problem-details error body, each operation's error
statuses, and the bearer security scheme declared per operation."""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Litestar, MediaType
from litestar.openapi import OpenAPIConfig, ResponseSpec
from litestar.openapi.spec import Components, SecurityScheme
from litestar.routes import HTTPRoute

from server.docs import render_plugins
from server.problems import PROBLEM_JSON

BEARER = "bearer"
_WRITES = {"POST", "PUT", "PATCH", "DELETE"}
_RATE_LIMITED = {"/api/v1/auth/register", "/api/v1/auth/login"}
_DESCRIPTIONS = {
    400: "Malformed request: wrong JSON types, unknown fields, a bad parameter "
         "(`validation_failed`, `errors[].field`)",
    401: "Missing, invalid or revoked bearer token",
    403: "The caller may not do this",
    404: "Unknown (or out-of-range) id in the path, or a thing the caller may not see",
    409: "Conflicts with the current state (taken, ended, version mismatch)",
    410: "No longer available",
    413: "Request body too large",
    415: "Unsupported content type",
    422: "A value breaks a rule (`invalid` and a specific code, `errors[].field`); an id in "
         "a body or query outside 1..2**63-1",
    428: "A precondition header is required",
    429: "Too many attempts or writes (`Retry-After` says when to retry)",
    503: "PostgreSQL or Redis is briefly unreachable (`unavailable`, `Retry-After`)",
}


class ProblemField(msgspec.Struct):
    """One field a validation error names."""

    field: str | None = None
    source: str | None = None  # body, query, path or header
    message: str | None = None


class Problem(msgspec.Struct):
    """RFC 9457 problem details: every error body of the API (`application/problem+json`)."""

    type: str
    title: str
    status: int
    detail: str
    code: str  # stable and documented per endpoint
    instance: str
    request_id: str | None = None
    errors: list[ProblemField] | None = None
    retry_after: float | None = None


def openapi_config() -> OpenAPIConfig:
    return OpenAPIConfig(
        title="Readalong API", version="1.0.0",
        description=("Real-time social reading: catalog, accounts, rooms, clubs, notifications. "
                     "Errors are problem details (`application/problem+json`); send "
                     "`Authorization: Bearer <access token>` from `POST /api/v1/auth/login`."),
        path="/docs",
        render_plugins=render_plugins(),
        components=Components(security_schemes={BEARER: SecurityScheme(
            type="http", scheme="bearer", bearer_format="JWT",
            description="The access token from register, login or refresh")}),
    )


def error_statuses(method: str, path: str, handler: Any) -> list[int]:
    """The error statuses one operation can answer, from what it takes."""
    params = handler.parsed_fn_signature.parameters
    statuses = {400, 503}
    if "{" in path:
        statuses.add(404)
    if "user" in params or "reader" in params:
        statuses |= {401, 403, 404}
    elif "maybe_user" in params or "maybe_reader" in params:
        statuses |= {401, 404}
    if "data" in params or any(name not in _NOT_QUERY for name in params):
        statuses.add(422)
    if method in _WRITES:
        statuses |= {404, 409, 422, 429}  # a write may be rate-limited per caller
    if "data" in params:
        statuses |= {413, 415}
    if path in _RATE_LIMITED:
        statuses.add(429)
    if path.startswith("/api/v1/auth/"):
        statuses.add(401)  # wrong credentials, a spent or unknown refresh token
    if method == "PATCH" and path.startswith("/api/v1/books/"):
        statuses.add(428)  # an edit must name the version it changes
    return sorted(statuses)


_NOT_QUERY = {"self", "db", "redis", "settings", "user", "maybe_user", "reader",
              "maybe_reader", "request", "state", "data", "scope"}


def document_api(app: Litestar) -> None:
    """Give every /api/v1 operation its error responses and its security requirement."""
    for route in app.routes:
        if not isinstance(route, HTTPRoute) or not route.path.startswith("/api/"):
            continue
        for method, entry in route.route_handler_map.items():
            handler = entry[0] if isinstance(entry, tuple) else entry
            if method in ("OPTIONS", "HEAD") or not handler.include_in_schema:
                continue
            responses = dict(handler.responses or {})
            html = handler.media_type == MediaType.HTML  # a page for people: errors as pages
            for status in error_statuses(method, route.path, handler):
                page = html and status != 503  # an outage still answers problem details
                responses.setdefault(status, ResponseSpec(
                    data_container=str if page else Problem, description=_DESCRIPTIONS[status],
                    media_type=MediaType.HTML if page else PROBLEM_JSON,
                    generate_examples=False))
            handler.responses = responses
            params = handler.parsed_fn_signature.parameters
            if "user" in params or "reader" in params:
                handler.security = [{BEARER: []}]
            elif "maybe_user" in params or "maybe_reader" in params:
                handler.security = [{}, {BEARER: []}]  # works without; a token shows more
