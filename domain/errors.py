"""Errors raised by use-cases; REST turns them into problem details, the hub into error frames."""

from __future__ import annotations

from typing import Any


class DomainError(Exception):
    """Base of every rule violation a client can cause. `code` is stable and documented."""

    status: int = 400
    code: str = "bad_request"

    def __init__(self, detail: str, *, code: str | None = None, field: str | None = None,
                 extra: dict[str, Any] | None = None, source: str = "body") -> None:
        super().__init__(detail)
        self.detail = detail
        if code is not None:
            self.code = code
        self.field = field
        self.source = source  # where `field` is: body, query, path or header
        self.extra = extra or {}


class Invalid(DomainError):
    """The request is well-formed but a value breaks a rule (names the field)."""

    status = 422
    code = "invalid"


class Unauthorized(DomainError):
    status = 401
    code = "unauthorized"


class Forbidden(DomainError):
    status = 403
    code = "forbidden"


class NotFound(DomainError):
    status = 404
    code = "not_found"


class Conflict(DomainError):
    status = 409
    code = "conflict"


class Gone(DomainError):
    status = 410
    code = "gone"


class RateLimited(DomainError):
    status = 429
    code = "rate_limited"

    def __init__(self, detail: str, *, retry_after: float, code: str | None = None) -> None:
        super().__init__(detail, code=code, extra={"retry_after": round(retry_after, 3)})
        self.retry_after = retry_after
