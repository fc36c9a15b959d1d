"""The one error tree every Ordo service raises, with stable dotted codes.

::

    AppError                          internal.error
    ├── ValidationError               validation.failed       (+ field errors)
    ├── NotFoundError                 resource.not_found
    ├── ConflictError                 resource.conflict
    ├── PermissionDeniedError         auth.permission_denied
    ├── UnauthenticatedError          auth.unauthenticated
    ├── RateLimitedError              rate_limit.exceeded     (+ retry_after seconds)
    └── InfrastructureError           infrastructure.error    transient (+ retry_after seconds)
        ├── DependencyUnavailableError    dependency.unavailable
        └── OperationTimeoutError         operation.timeout

Services subclass a family and pin their own code::

    class OrderNotFoundError(NotFoundError):
        code = "order.not_found"

``message`` is written for the API caller and may be shown verbatim; put internals (ids of
other tenants, hosts, SQL) in logs, not in errors. Adapters translate this tree: the HTTP
adapter (``shared.http.problems``) to status codes and problem+json, the messaging adapter,
through :func:`is_transient`, to retry or dead-letter. This module knows neither.

What a driver raises when a dependency is down (``ConnectionRefusedError``, asyncpg's and
SQLAlchemy's connection errors, a pool that timed out) is not an ``AppError``;
:func:`infrastructure_error_for` names it in this tree (the HTTP adapter answers it with 503 and
``Retry-After``, never 500), and :func:`is_lost_connection` says when the same work may simply
run again on a fresh connection.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, ClassVar

__all__ = [
    "AppError",
    "ConflictError",
    "DependencyUnavailableError",
    "FieldError",
    "InfrastructureError",
    "NotFoundError",
    "OperationTimeoutError",
    "PermissionDeniedError",
    "RateLimitedError",
    "UnauthenticatedError",
    "ValidationError",
    "infrastructure_error_for",
    "is_lost_connection",
    "is_transient",
]


class AppError(Exception):
    """Base of every expected error: a stable ``code``, a caller-facing ``message``, ``details``.

    Args:
        message: human-readable, safe to show to the caller; defaults to the class's message.
        code: overrides the class's stable dotted code (prefer a subclass that pins it).
        details: extra, JSON-serialisable facts for the caller (e.g. ``{"order_id": ...}``).
    """

    code: str = "internal.error"
    default_message: ClassVar[str] = "An unexpected error occurred."
    transient: ClassVar[bool] = False

    def __init__(
        self,
        message: str | None = None,
        *,
        code: str | None = None,
        details: Mapping[str, Any] | None = None,
    ) -> None:
        self.message = message if message is not None else self.default_message
        if code is not None:
            self.code = code
        self.details: Mapping[str, Any] = MappingProxyType(dict(details or {}))
        super().__init__(self.message)

    def __str__(self) -> str:
        return f"{self.code}: {self.message}"

    def __repr__(self) -> str:
        return f"{type(self).__name__}(code={self.code!r}, message={self.message!r})"

    def __reduce__(self) -> tuple[Any, ...]:
        # Keyword-only arguments are lost by Exception's default pickling (used by
        # multiprocessing and some task queues); rebuild from the full state instead.
        state = {**self.__dict__, "details": dict(self.details)}
        return (_rebuild, (type(self), state))


def _rebuild(cls: type[AppError], state: dict[str, Any]) -> AppError:
    error = cls.__new__(cls)
    Exception.__init__(error, state.get("message", ""))
    error.__dict__.update(state)
    error.details = MappingProxyType(dict(state.get("details", {})))
    return error


@dataclass(frozen=True, slots=True)
class FieldError:
    """One invalid input field: ``path`` like ``body.items.0.quantity``, a message, a type."""

    path: str
    message: str
    type: str = "value_error"

    @classmethod
    def from_loc(
        cls, loc: Iterable[str | int], message: str, type: str = "value_error"
    ) -> FieldError:
        """Build from a pydantic-style location tuple, e.g. ``("body", "items", 0, "quantity")``."""
        return cls(path=".".join(str(part) for part in loc), message=message, type=type)


class ValidationError(AppError):
    """The input is well-formed but breaks a rule; may list the offending fields."""

    code = "validation.failed"
    default_message = "The request is invalid."

    def __init__(
        self,
        message: str | None = None,
        *,
        errors: Sequence[FieldError] = (),
        code: str | None = None,
        details: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(message, code=code, details=details)
        self.errors: tuple[FieldError, ...] = tuple(errors)


class NotFoundError(AppError):
    """The resource does not exist, or the caller may not know that it exists."""

    code = "resource.not_found"
    default_message = "The resource was not found."


class ConflictError(AppError):
    """The request conflicts with the resource's current state (version, uniqueness, status)."""

    code = "resource.conflict"
    default_message = "The request conflicts with the current state of the resource."


class PermissionDeniedError(AppError):
    """The caller is known but lacks the role or scope for this action."""

    code = "auth.permission_denied"
    default_message = "You do not have permission to perform this action."


class UnauthenticatedError(AppError):
    """The caller could not be identified (missing, expired or invalid credentials)."""

    code = "auth.unauthenticated"
    default_message = "Authentication is required."


class RateLimitedError(AppError):
    """The caller sent too many requests; ``retry_after`` says how many seconds to wait."""

    code = "rate_limit.exceeded"
    default_message = "Too many requests."

    def __init__(
        self,
        message: str | None = None,
        *,
        retry_after: float | None = None,
        code: str | None = None,
        details: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(message, code=code, details=details)
        self.retry_after = retry_after


class InfrastructureError(AppError):
    """A dependency (database, broker, network, provider) failed in a way worth retrying.

    ``retry_after``: how many seconds the caller should wait, when known (None: the HTTP
    adapter's default).
    """

    code = "infrastructure.error"
    default_message = "A dependency failed; please retry."
    transient = True

    def __init__(
        self,
        message: str | None = None,
        *,
        retry_after: float | None = None,
        code: str | None = None,
        details: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(message, code=code, details=details)
        self.retry_after = retry_after


class DependencyUnavailableError(InfrastructureError):
    """A dependency cannot be reached or is shedding load (e.g. its circuit is open)."""

    code = "dependency.unavailable"
    default_message = "A dependency is unavailable; please retry later."


class OperationTimeoutError(InfrastructureError):
    """An IO operation exceeded its deadline (see ``shared.resilience.timeouts``)."""

    code = "operation.timeout"
    default_message = "The operation timed out."


# SQLSTATEs (PostgreSQL appendix A) after which the same statement can succeed on retry.
_TRANSIENT_SQLSTATE_CLASSES = ("08",)  # connection exceptions
_TRANSIENT_SQLSTATES = frozenset(
    {
        "40001",  # serialization_failure
        "40P01",  # deadlock_detected
        "53300",  # too_many_connections
        "55P03",  # lock_not_available
        "57014",  # query_canceled (statement_timeout)
        "57P01",  # admin_shutdown
        "57P02",  # crash_shutdown
        "57P03",  # cannot_connect_now
    }
)
# Filesystem errors are OSErrors too, but retrying never makes a missing file appear.
_PERMANENT_OS_ERRORS = (
    FileNotFoundError,
    FileExistsError,
    IsADirectoryError,
    NotADirectoryError,
    PermissionError,
)
_TRANSIENT_HTTP_STATUSES = frozenset({429, 502, 503, 504})
_MAX_CHAIN = 8


def is_transient(exc: BaseException) -> bool:
    """Return True if retrying the same operation later may succeed.

    Transient: the :class:`InfrastructureError` family (any ``AppError`` whose class sets
    ``transient``), ``TimeoutError``/``asyncio.TimeoutError``, network ``OSError``s and
    ``ConnectionError``, SQLAlchemy ``OperationalError``/``DisconnectionError``/pool timeouts and
    invalidated connections, PostgreSQL connection errors, serialization failures, deadlocks,
    lock timeouts and shutdowns (by SQLSTATE, through SQLAlchemy's ``orig`` and ``__cause__``),
    retriable Kafka errors, Redis connection/timeouts, httpx transport errors and 429/502/503/504.
    Everything else, including every other ``AppError``, is permanent.
    """
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen and len(seen) < _MAX_CHAIN:
        seen.add(id(current))
        verdict = _classify(current)
        if verdict is not None:
            return verdict
        # Drivers wrap the informative error: SQLAlchemy in ``.orig``, others in __cause__.
        orig = getattr(current, "orig", None)
        current = orig if isinstance(orig, BaseException) else current.__cause__
    return False


def _classify(exc: BaseException) -> bool | None:
    """Return a verdict for this exception alone, or None to look at what it wraps."""
    if isinstance(exc, AppError):
        return exc.transient
    sqlstate = getattr(exc, "sqlstate", None) or getattr(exc, "pgcode", None)
    if isinstance(sqlstate, str) and sqlstate:
        return sqlstate in _TRANSIENT_SQLSTATES or sqlstate.startswith(_TRANSIENT_SQLSTATE_CLASSES)
    if isinstance(exc, _PERMANENT_OS_ERRORS):
        return False
    # OSError covers TimeoutError (asyncio.TimeoutError is an alias) and ConnectionError.
    if isinstance(exc, OSError):
        return True
    return _classify_library(exc)


def _classify_library(exc: BaseException) -> bool | None:
    # Only libraries that are already imported can have raised ``exc``: looking them up in
    # sys.modules keeps this module free of heavy imports.
    for classify in (_sqlalchemy_verdict, _kafka_verdict, _redis_verdict, _httpx_verdict):
        verdict = classify(exc)
        if verdict is not None:
            return verdict
    return None


def _sqlalchemy_verdict(exc: BaseException) -> bool | None:
    sa_exc = sys.modules.get("sqlalchemy.exc")
    if sa_exc is None or not isinstance(exc, sa_exc.SQLAlchemyError):
        return None
    if isinstance(exc, sa_exc.DBAPIError) and exc.connection_invalidated:
        return True
    # InterfaceError: the driver could not use its connection (closed, broken, mid-reset).
    transient = (
        sa_exc.OperationalError,
        sa_exc.InterfaceError,
        sa_exc.DisconnectionError,
        sa_exc.TimeoutError,
    )
    if isinstance(exc, transient):
        return True
    # Other DBAPIErrors are decided by the driver error in ``.orig`` (e.g. its SQLSTATE).
    return None


def _kafka_verdict(exc: BaseException) -> bool | None:
    kafka_errors = sys.modules.get("aiokafka.errors")
    if kafka_errors is None or not isinstance(exc, kafka_errors.KafkaError):
        return None
    # aiokafka marks its client-side KafkaTimeoutError non-retriable; a timeout is transient.
    return isinstance(exc, kafka_errors.KafkaTimeoutError) or bool(getattr(exc, "retriable", False))


def _redis_verdict(exc: BaseException) -> bool | None:
    redis_exc = sys.modules.get("redis.exceptions")
    if redis_exc is None:
        return None
    return True if isinstance(exc, redis_exc.ConnectionError | redis_exc.TimeoutError) else None


def _httpx_verdict(exc: BaseException) -> bool | None:
    httpx = sys.modules.get("httpx")
    if httpx is None:
        return None
    if isinstance(exc, httpx.TimeoutException | httpx.NetworkError | httpx.RemoteProtocolError):
        return True
    if isinstance(exc, httpx.HTTPStatusError):
        return bool(exc.response.status_code in _TRANSIENT_HTTP_STATUSES)
    return None


# -- naming a driver's failure in the tree -------------------------------------------------------

# SQLSTATEs (besides class 08) of a server that is shutting down, starting or full.
_UNAVAILABLE_SQLSTATES = frozenset({"53300", "57P01", "57P02", "57P03"})
_TIMEOUT_SQLSTATES = frozenset({"57014"})  # query_canceled: the statement_timeout fired


def infrastructure_error_for(exc: BaseException) -> InfrastructureError | None:
    """Name a transient failure from a driver or library in this tree; None if it is not one.

    - the dependency cannot be reached or dropped the connection (refused, reset, a pooled
      connection found dead, the pool exhausted, the server shutting down or full):
      :class:`DependencyUnavailableError`;
    - a deadline passed (socket or asyncio timeout, PostgreSQL's statement timeout):
      :class:`OperationTimeoutError`;
    - any other transient failure (serialization failure, deadlock, lock timeout):
      :class:`InfrastructureError`.

    An ``InfrastructureError`` is returned as it is; another ``AppError`` or a permanent error
    (a bug, a constraint violation) gives None. The new error's ``__cause__`` is ``exc``, so logs
    keep the driver's message while callers see only the tree's.
    """
    if isinstance(exc, InfrastructureError):
        return exc
    if isinstance(exc, AppError) or not is_transient(exc):
        return None
    error = _failure_kind(exc)()
    error.__cause__ = exc
    return error


def is_lost_connection(exc: BaseException) -> bool:
    """Return True when ``exc`` says the database connection under the work was found dead.

    SQLAlchemy flags such an error ``connection_invalidated`` and invalidates the pool, so the
    same work can run again at once on a fresh connection. That is safe for a read, and for a
    transaction that never reached COMMIT (PostgreSQL rolled it back with the connection); a
    unit of work that loses its connection during COMMIT raises an ``AppError`` instead (the
    outcome is unknown), which this never accepts.
    """
    if isinstance(exc, AppError):
        return False
    sa_exc = sys.modules.get("sqlalchemy.exc")
    if sa_exc is None:
        return False
    return any(
        isinstance(link, sa_exc.DBAPIError) and link.connection_invalidated for link in _chain(exc)
    )


def _chain(exc: BaseException) -> list[BaseException]:
    """``exc`` and what it wraps (SQLAlchemy's ``.orig``, else ``__cause__``), bounded."""
    links: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and all(current is not seen for seen in links):
        links.append(current)
        if len(links) >= _MAX_CHAIN:
            break
        orig = getattr(current, "orig", None)
        current = orig if isinstance(orig, BaseException) else current.__cause__
    return links


def _failure_kind(exc: BaseException) -> type[InfrastructureError]:
    for link in _chain(exc):
        kind = _kind_of(link)
        if kind is not None:
            return kind
    return InfrastructureError


def _kind_of(exc: BaseException) -> type[InfrastructureError] | None:
    sqlstate = getattr(exc, "sqlstate", None) or getattr(exc, "pgcode", None)
    if isinstance(sqlstate, str) and sqlstate:
        if sqlstate in _TIMEOUT_SQLSTATES:
            return OperationTimeoutError
        if sqlstate in _UNAVAILABLE_SQLSTATES or sqlstate.startswith(_TRANSIENT_SQLSTATE_CLASSES):
            return DependencyUnavailableError
        return InfrastructureError
    if isinstance(exc, TimeoutError):
        return OperationTimeoutError
    if isinstance(exc, OSError):
        return DependencyUnavailableError
    return _library_kind(exc)


def _library_kind(exc: BaseException) -> type[InfrastructureError] | None:
    sa_exc = sys.modules.get("sqlalchemy.exc")
    if sa_exc is not None and isinstance(exc, sa_exc.SQLAlchemyError):
        if isinstance(exc, sa_exc.DBAPIError) and exc.connection_invalidated:
            return DependencyUnavailableError
        # The pool had no connection to give in time, or the driver could not use its own.
        if isinstance(exc, sa_exc.TimeoutError | sa_exc.DisconnectionError | sa_exc.InterfaceError):
            return DependencyUnavailableError
        return None  # the driver's error in ``.orig`` says more
    name = type(exc).__name__
    if "Timeout" in name:
        return OperationTimeoutError
    # Redis, Kafka and httpx connection failures, and any other transient library error that
    # is not a timeout: the dependency is unavailable for now.
    return DependencyUnavailableError if is_transient(exc) else None
