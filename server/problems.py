"""RFC 9457 problem details for every error the REST API returns."""

from __future__ import annotations

import logging
import re
from typing import Any

import asyncpg
from litestar import Request, Response
from litestar.exceptions import HTTPException, ValidationException
from litestar.status_codes import HTTP_500_INTERNAL_SERVER_ERROR
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from domain.errors import DomainError, RateLimited
from server.logs import request_id_var

PROBLEM_JSON = "application/problem+json"
TYPE_BASE = "https://readalong.dev/problems/"
log = logging.getLogger("readalong.errors")

_TITLES = {
    400: "Bad request", 401: "Unauthorized", 403: "Forbidden", 404: "Not found",
    405: "Method not allowed", 409: "Conflict", 410: "Gone", 413: "Payload too large",
    415: "Unsupported media type", 422: "Unprocessable content", 428: "Precondition required",
    429: "Too many requests",
    500: "Internal server error", 503: "Service unavailable",
}
_CODES = {
    400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found",
    405: "method_not_allowed", 409: "conflict", 413: "too_large", 415: "unsupported_media_type",
    422: "invalid", 428: "precondition_required", 429: "rate_limited", 500: "internal",
    503: "unavailable",
}


def problem(request: Request[Any, Any, Any], status: int, code: str, detail: str,
            extra: dict[str, Any] | None = None,
            headers: dict[str, str] | None = None) -> Response[dict[str, Any]]:
    body: dict[str, Any] = {
        "type": TYPE_BASE + code,
        "title": _TITLES.get(status, "Error"),
        "status": status,
        "detail": detail,
        "code": code,
        "instance": request.url.path,
    }
    request_id = request_id_var.get()
    if request_id:
        body["request_id"] = request_id
    if extra:
        body.update(extra)
    return Response(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


def _field_path(key: Any) -> str:
    return str(key) if key is not None else ""


#: msgspec's message for a value outside `domain.ids.Id`'s range, e.g. "Expected `int` >= 1"
_RANGE = re.compile(r"Expected `int` [<>]=? -?\d+")
_INT_RANGE = re.compile(r"out of int(16|32|64) range")
_ID_FIELD = re.compile(r"(?:^|[._])ids?(?:\[\d+\])?$")

#: The drivers' "the engine is unreachable" errors: answered 503 `unavailable`, never a 500.
OUTAGE_ERRORS: tuple[type[BaseException], ...] = (
    OSError,  # refused, reset, timed out (TimeoutError is an OSError), socket file gone
    asyncpg.PostgresConnectionError,  # connection lost or never made
    asyncpg.exceptions.OperatorInterventionError,  # shutting down, starting up, crash restart
    RedisConnectionError, RedisTimeoutError,
)
RETRY_AFTER_SECONDS = 5


def is_outage(exc: BaseException) -> bool:
    """True when `exc` (or what caused it) says PostgreSQL or Redis cannot be reached."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, OUTAGE_ERRORS):
            return True
        if isinstance(current, asyncpg.InterfaceError) and "closed" in str(current):
            return True  # "connection is closed": the server went away under the pool
        current = current.__cause__ or current.__context__
    return False


def _is_id_range(field: str | None, message: str) -> bool:
    return bool(field) and bool(_ID_FIELD.search(field or "")) and bool(_RANGE.search(message))


def handle_validation(request: Request[Any, Any, Any], exc: ValidationException) -> Response[Any]:
    errors: list[dict[str, Any]] = []
    for item in exc.extra if isinstance(exc.extra, list) else []:
        if isinstance(item, dict):
            errors.append({"field": _field_path(item.get("key")) or None,
                           "source": item.get("source"), "message": item.get("message")})
    detail = exc.detail or "Validation failed"
    # msgspec reports the field path in the message, e.g. "Expected `str`, got `int` - at `$.title`"
    for err in errors:
        msg = err.get("message") or ""
        if not err["field"] and " - at `$." in msg:
            err["field"] = msg.rsplit(" - at `$.", 1)[1].rstrip("`")
    if not errors and detail and " - at `$." in detail:
        errors.append({"field": detail.rsplit(" - at `$.", 1)[1].rstrip("`"), "message": detail,
                       "source": "body"})
    if errors and all(_is_id_range(e["field"], e.get("message") or "") for e in errors):
        # an id outside 1..2**63-1 (`domain.ids.Id`): a well-formed value naming nothing
        return problem(request, 422, "invalid", detail, {"errors": errors})
    return problem(request, 400 if exc.status_code == 400 else exc.status_code, "validation_failed",
                   detail, {"errors": errors})


def handle_http(request: Request[Any, Any, Any], exc: HTTPException) -> Response[Any]:
    status = exc.status_code
    extra = exc.extra if isinstance(exc.extra, dict) else None
    return problem(request, status, _CODES.get(status, "error"),
                   exc.detail or _TITLES.get(status, ""), extra, headers=exc.headers)


def handle_domain(request: Request[Any, Any, Any], exc: DomainError) -> Response[Any]:
    extra = dict(exc.extra)
    if exc.field:
        extra["errors"] = [{"field": exc.field, "message": exc.detail, "source": exc.source}]
    headers = None
    if isinstance(exc, RateLimited):
        headers = {"Retry-After": str(max(1, int(exc.retry_after + 0.999)))}
    elif exc.status == 503:
        headers = {"Retry-After": str(RETRY_AFTER_SECONDS)}
    return problem(request, exc.status, exc.code, exc.detail, extra, headers=headers)


def _backstop(exc: BaseException) -> tuple[int, str, str] | None:
    """Input PostgreSQL refuses that no validation caught yet: a clear 4xx, never a 500.

    Each is a class of bad input, not a bug of ours: a number too big for its column (an id
    field not typed `Id`, a year or a count without bounds), text with a NUL character
    (PostgreSQL text cannot hold one), a reference to a row that does not exist (a foreign
    key).
    """
    if isinstance(exc, asyncpg.exceptions.NumericValueOutOfRangeError) or (
            isinstance(exc, asyncpg.DataError) and _INT_RANGE.search(str(exc))):
        return 422, "invalid", "a number is out of range (ids are 1 .. 2**63-1)"
    if isinstance(exc, asyncpg.exceptions.CharacterNotInRepertoireError | UnicodeEncodeError):
        return 422, "invalid", "text must be valid UTF-8 without NUL (\\u0000) characters"
    if isinstance(exc, asyncpg.ForeignKeyViolationError):
        return 404, "not_found", "a record this request refers to does not exist"
    return None


def handle_unexpected(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    if is_outage(exc):
        log.warning("%s %s: a backing service is unreachable: %s: %s", request.method,
                    request.url.path, type(exc).__name__, exc)
        return problem(request, 503, "unavailable",
                       "The service is briefly unavailable (a backing store cannot be reached); "
                       "retry shortly.", headers={"Retry-After": str(RETRY_AFTER_SECONDS)})
    backstop = _backstop(exc)
    if backstop is not None:
        status, code, detail = backstop
        log.warning("%s %s: answered %s by the database backstop: %s: %s", request.method,
                    request.url.path, status, type(exc).__name__, exc)
        return problem(request, status, code, detail)
    log.exception("unhandled error on %s %s", request.method, request.url.path)
    return problem(request, HTTP_500_INTERNAL_SERVER_ERROR, "internal",
                   "The server failed to handle this request; it has been logged.")


EXCEPTION_HANDLERS: dict[Any, Any] = {
    ValidationException: handle_validation,
    HTTPException: handle_http,
    DomainError: handle_domain,
    Exception: handle_unexpected,
}
