"""Errors a use case can raise; each door maps its code to HTTP or GraphQL."""

from __future__ import annotations

from collections.abc import Mapping


class DomainError(Exception):
    """A failure the caller can act on, with a stable machine-readable code."""

    code = "INTERNAL"
    http_status = 500

    def __init__(self, message: str, *, fields: Mapping[str, str] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.fields: dict[str, str] = dict(fields or {})


class Unauthenticated(DomainError):
    code = "UNAUTHENTICATED"
    http_status = 401


class Forbidden(DomainError):
    code = "FORBIDDEN"
    http_status = 403


class NotFound(DomainError):
    code = "NOT_FOUND"
    http_status = 404


class BodyTooLarge(DomainError):
    """A request body over its door's limit (413)."""

    code = "PAYLOAD_TOO_LARGE"
    http_status = 413


class RequestTimeout(DomainError):
    """A request body that did not arrive in time (408): a slow sender holds no worker for long."""

    code = "REQUEST_TIMEOUT"
    http_status = 408


class Conflict(DomainError):
    code = "CONFLICT"
    http_status = 409


class BadInput(DomainError):
    """Input that fails validation; `fields` names each bad field and why."""

    code = "BAD_USER_INPUT"
    http_status = 422


class Unavailable(DomainError):
    """A dependency (database, broker) is down; the caller should retry later."""

    code = "UNAVAILABLE"
    http_status = 503


class QueryTimeout(DomainError):
    """A read ran past the statement timeout and was cancelled; ask for less (a smaller page)."""

    code = "QUERY_TIMEOUT"
    http_status = 503


class DialpadError(DomainError):
    """Dialpad refused or failed a request; carries Dialpad's status and message."""

    code = "DIALPAD_ERROR"
    http_status = 502

    def __init__(self, message: str, *, status: int | None = None, step: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.step = step
