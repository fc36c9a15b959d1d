from __future__ import annotations

import asyncio
import pickle
from typing import Any

import aiokafka.errors
import asyncpg.exceptions
import httpx
import pytest
import redis.exceptions
import sqlalchemy.exc

from shared.errors import (
    AppError,
    ConflictError,
    DependencyUnavailableError,
    FieldError,
    InfrastructureError,
    NotFoundError,
    OperationTimeoutError,
    PermissionDeniedError,
    RateLimitedError,
    UnauthenticatedError,
    ValidationError,
    is_transient,
)


@pytest.mark.parametrize(
    ("cls", "code"),
    [
        (AppError, "internal.error"),
        (ValidationError, "validation.failed"),
        (NotFoundError, "resource.not_found"),
        (ConflictError, "resource.conflict"),
        (PermissionDeniedError, "auth.permission_denied"),
        (UnauthenticatedError, "auth.unauthenticated"),
        (RateLimitedError, "rate_limit.exceeded"),
        (InfrastructureError, "infrastructure.error"),
        (DependencyUnavailableError, "dependency.unavailable"),
        (OperationTimeoutError, "operation.timeout"),
    ],
)
def test_every_class_has_a_stable_default_code_and_message(cls: type[AppError], code: str) -> None:
    error = cls()

    assert error.code == code
    assert error.message  # a caller-safe default sentence
    assert error.details == {}
    assert isinstance(error, AppError)


def test_the_tree_has_the_documented_shape() -> None:
    assert issubclass(DependencyUnavailableError, InfrastructureError)
    assert issubclass(OperationTimeoutError, InfrastructureError)
    for family in (ValidationError, NotFoundError, ConflictError, PermissionDeniedError):
        assert family.__bases__ == (AppError,)


def test_a_subclass_pins_its_own_code() -> None:
    class OrderNotFoundError(NotFoundError):
        code = "order.not_found"

    error = OrderNotFoundError("Order 7 was not found.", details={"order_id": 7})

    assert error.code == "order.not_found"
    assert str(error) == "order.not_found: Order 7 was not found."
    assert error.details == {"order_id": 7}
    assert NotFoundError().code == "resource.not_found"  # the family default is untouched


def test_an_instance_can_override_the_code() -> None:
    error = ConflictError("Version mismatch.", code="order.version_conflict")

    assert error.code == "order.version_conflict"
    assert ConflictError.code == "resource.conflict"


def test_details_are_a_read_only_copy() -> None:
    source: dict[str, Any] = {"order_id": 1}
    error = AppError(details=source)
    source["order_id"] = 2

    assert error.details == {"order_id": 1}
    with pytest.raises(TypeError):
        error.details["order_id"] = 3  # type: ignore[index]


def test_validation_error_carries_field_errors() -> None:
    error = ValidationError(
        errors=[FieldError.from_loc(("body", "items", 0, "quantity"), "must be > 0", "gt")]
    )

    assert error.errors == (FieldError("body.items.0.quantity", "must be > 0", "gt"),)


def test_rate_limited_error_carries_retry_after() -> None:
    assert RateLimitedError(retry_after=1.5).retry_after == 1.5
    assert RateLimitedError().retry_after is None


@pytest.mark.parametrize(
    "error",
    [
        NotFoundError("gone", code="order.not_found", details={"id": 1}),
        ValidationError(errors=[FieldError("body.x", "bad")]),
        RateLimitedError(retry_after=3),
    ],
)
def test_errors_survive_pickling(error: AppError) -> None:
    copy = pickle.loads(pickle.dumps(error))  # noqa: S301 - our own bytes

    assert type(copy) is type(error)
    assert (copy.code, copy.message, dict(copy.details)) == (
        error.code,
        error.message,
        dict(error.details),
    )
    assert vars(copy) == vars(error)


def _dbapi_error(orig: BaseException, cls: type[sqlalchemy.exc.DBAPIError]) -> BaseException:
    return cls("SELECT 1", {}, orig)  # type: ignore[arg-type]


class _DriverError(Exception):
    def __init__(self, sqlstate: str) -> None:
        super().__init__(sqlstate)
        self.sqlstate = sqlstate


def _chained(outer: BaseException, cause: BaseException) -> BaseException:
    outer.__cause__ = cause
    return outer


def _status_error(status: int) -> httpx.HTTPStatusError:
    request = httpx.Request("GET", "http://provider.test/")
    response = httpx.Response(status, request=request)
    return httpx.HTTPStatusError("status", request=request, response=response)


TRANSIENT: list[BaseException] = [
    InfrastructureError(),
    DependencyUnavailableError(),
    OperationTimeoutError(),
    TimeoutError(),
    TimeoutError(),
    ConnectionResetError(),
    ConnectionRefusedError(),
    OSError("network is unreachable"),
    sqlalchemy.exc.OperationalError("SELECT 1", {}, Exception("server closed the connection")),
    sqlalchemy.exc.DisconnectionError(),
    sqlalchemy.exc.TimeoutError("QueuePool limit reached"),
    sqlalchemy.exc.DBAPIError("SELECT 1", {}, Exception("x"), connection_invalidated=True),
    _dbapi_error(_DriverError("40001"), sqlalchemy.exc.DBAPIError),  # serialization failure
    _dbapi_error(_DriverError("40P01"), sqlalchemy.exc.DBAPIError),  # deadlock
    _dbapi_error(_DriverError("08006"), sqlalchemy.exc.InterfaceError),  # connection failure
    asyncpg.exceptions.SerializationError("could not serialize access"),
    asyncpg.exceptions.DeadlockDetectedError("deadlock detected"),
    asyncpg.exceptions.ConnectionDoesNotExistError("connection was closed"),
    asyncpg.exceptions.TooManyConnectionsError("too many clients"),
    asyncpg.exceptions.QueryCanceledError("canceling statement due to statement timeout"),
    _chained(RuntimeError("wrapper"), asyncpg.exceptions.DeadlockDetectedError("deadlock")),
    aiokafka.errors.KafkaConnectionError(),
    aiokafka.errors.KafkaTimeoutError(),
    aiokafka.errors.NotLeaderForPartitionError(),
    redis.exceptions.ConnectionError(),
    redis.exceptions.TimeoutError(),
    httpx.ConnectError("refused"),
    httpx.ReadTimeout("slow"),
    _status_error(503),
    _status_error(429),
]

PERMANENT: list[BaseException] = [
    AppError(),
    ValidationError(),
    NotFoundError(),
    ConflictError(),
    PermissionDeniedError(),
    UnauthenticatedError(),
    RateLimitedError(),
    ValueError("bad input"),
    KeyError("missing"),
    RuntimeError("bug"),
    FileNotFoundError("no such file"),
    PermissionError("denied"),
    sqlalchemy.exc.IntegrityError("INSERT", {}, Exception("duplicate key")),
    _dbapi_error(_DriverError("23505"), sqlalchemy.exc.IntegrityError),  # unique violation
    asyncpg.exceptions.UniqueViolationError("duplicate key"),
    asyncpg.exceptions.UndefinedTableError("relation does not exist"),
    aiokafka.errors.MessageSizeTooLargeError(),
    redis.exceptions.ResponseError("WRONGTYPE"),
    _status_error(400),
    _status_error(500),
    httpx.UnsupportedProtocol("ftp"),
]


@pytest.mark.parametrize("exc", TRANSIENT, ids=lambda e: type(e).__name__)
def test_transient_errors_are_retried(exc: BaseException) -> None:
    assert is_transient(exc)


@pytest.mark.parametrize("exc", PERMANENT, ids=lambda e: type(e).__name__)
def test_other_errors_are_permanent(exc: BaseException) -> None:
    assert not is_transient(exc)


def test_cancellation_is_not_transient() -> None:
    assert not is_transient(asyncio.CancelledError())


def test_a_cyclic_cause_chain_terminates() -> None:
    first, second = RuntimeError("a"), RuntimeError("b")
    first.__cause__, second.__cause__ = second, first

    assert not is_transient(first)
