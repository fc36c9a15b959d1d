"""Driver failures named in the error tree, and the HTTP answer to them: 503 + Retry-After."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest
from fastapi import APIRouter, FastAPI
from sqlalchemy import exc as sa_exc

from shared.errors import (
    AppError,
    DependencyUnavailableError,
    InfrastructureError,
    NotFoundError,
    OperationTimeoutError,
    infrastructure_error_for,
    is_lost_connection,
    is_transient,
)
from shared.http import PROBLEM_CONTENT_TYPE, create_app
from shared.observability.metrics import Metrics
from shared.settings import ServiceSettings


class DriverError(Exception):
    """What asyncpg raises: an error with a SQLSTATE."""

    def __init__(self, sqlstate: str) -> None:
        super().__init__(f"sqlstate {sqlstate}")
        self.sqlstate = sqlstate


def wrapped(
    orig: BaseException,
    *,
    invalidated: bool = False,
    kind: type[sa_exc.DBAPIError] = sa_exc.OperationalError,
) -> sa_exc.DBAPIError:
    """``orig`` as SQLAlchemy raises it (``connection_invalidated`` after a disconnect)."""
    return kind("SELECT 1", {}, orig, connection_invalidated=invalidated)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("error", "kind"),
    [
        (ConnectionRefusedError(111, "Connect call failed"), DependencyUnavailableError),
        (ConnectionResetError(), DependencyUnavailableError),
        (OSError(113, "No route to host"), DependencyUnavailableError),
        (TimeoutError(), OperationTimeoutError),
        (wrapped(DriverError("57P01")), DependencyUnavailableError),  # admin shutdown
        (wrapped(DriverError("08006")), DependencyUnavailableError),  # connection failure
        (wrapped(DriverError("53300")), DependencyUnavailableError),  # too many connections
        (wrapped(DriverError("57014")), OperationTimeoutError),  # statement timeout
        (wrapped(DriverError("40001"), kind=sa_exc.DBAPIError), InfrastructureError),
        (wrapped(Exception("closed"), invalidated=True), DependencyUnavailableError),
        (
            sa_exc.TimeoutError("QueuePool limit of size 5 overflow 5 reached"),
            DependencyUnavailableError,
        ),
        (
            sa_exc.InterfaceError("SELECT 1", {}, Exception("connection is closed")),
            DependencyUnavailableError,
        ),
    ],
)
def test_transient_driver_errors_are_named_in_the_tree(
    error: BaseException, kind: type[InfrastructureError]
) -> None:
    named = infrastructure_error_for(error)

    assert type(named) is kind
    assert named is not None
    assert named.__cause__ is error
    assert named.transient


@pytest.mark.parametrize(
    "error",
    [
        ValueError("a bug"),
        FileNotFoundError("missing.txt"),
        NotFoundError(),
        AppError(),
        wrapped(DriverError("23505"), kind=sa_exc.IntegrityError),  # the request's fault
    ],
)
def test_permanent_errors_are_not(error: BaseException) -> None:
    assert infrastructure_error_for(error) is None


def test_an_infrastructure_error_is_returned_as_it_is() -> None:
    error = DependencyUnavailableError(retry_after=7)
    assert infrastructure_error_for(error) is error


def test_sqlalchemy_interface_errors_are_transient() -> None:
    assert is_transient(sa_exc.InterfaceError("SELECT 1", {}, Exception("connection is closed")))


def test_a_lost_connection_is_an_invalidated_one_not_yet_named() -> None:
    lost = wrapped(Exception("connection is closed"), invalidated=True)
    assert is_lost_connection(lost)
    named = DependencyUnavailableError()
    named.__cause__ = lost
    assert not is_lost_connection(named)  # a lost COMMIT: the outcome is unknown
    assert not is_lost_connection(ConnectionRefusedError())
    assert not is_lost_connection(sa_exc.TimeoutError("pool"))
    assert not is_lost_connection(wrapped(DriverError("40001"), kind=sa_exc.DBAPIError))


# -- over HTTP -----------------------------------------------------------------------------------

RAISES: dict[str, Callable[[], BaseException]] = {
    "refused": lambda: ConnectionRefusedError(111, "Connect call failed ('10.0.0.7', 5432)"),
    "invalidated": lambda: wrapped(Exception("connection is closed"), invalidated=True),
    "pool": lambda: sa_exc.TimeoutError("QueuePool limit of size 5 overflow 5 reached"),
    "unavailable": DependencyUnavailableError,
    "later": lambda: DependencyUnavailableError(retry_after=4.2),
    "breaker": lambda: DependencyUnavailableError(details={"retry_after_s": 9.5}),
    "bug": lambda: RuntimeError("a bug"),
}


@pytest.fixture
def app(settings: ServiceSettings, metrics: Metrics) -> FastAPI:
    router = APIRouter()

    @router.get("/fail/{kind}")
    async def fail(kind: str) -> None:
        raise RAISES[kind]()

    return create_app(
        title="failures",
        version="0",
        settings=settings,
        readiness={},
        routers=[router],
        metrics=metrics,
    )


@pytest.mark.parametrize(
    ("kind", "retry_after"),
    [
        ("refused", "1"),
        ("invalidated", "1"),
        ("pool", "1"),
        ("unavailable", "1"),
        ("later", "5"),
        ("breaker", "10"),
    ],
)
async def test_an_unavailable_dependency_is_503_with_retry_after(
    app: FastAPI,
    client_for: Callable[[FastAPI], httpx.AsyncClient],
    logs: Any,
    kind: str,
    retry_after: str,
) -> None:
    async with client_for(app) as client:
        response = await client.get(f"/fail/{kind}")

    assert response.status_code == 503
    assert response.headers["content-type"] == PROBLEM_CONTENT_TYPE
    assert response.headers["retry-after"] == retry_after
    body = response.json()
    assert body["code"] == "dependency.unavailable"
    assert "10.0.0.7" not in response.text
    assert "QueuePool" not in response.text
    assert logs.events("unhandled_exception") == []
    [line] = logs.events("request_failed")
    assert line["status"] == 503
    assert "exception" not in line  # one line, no traceback


async def test_a_bug_is_still_an_opaque_500(
    app: FastAPI, client_for: Callable[[FastAPI], httpx.AsyncClient], logs: Any
) -> None:
    async with client_for(app) as client:
        response = await client.get("/fail/bug")

    assert response.status_code == 500
    assert "retry-after" not in response.headers
    [line] = logs.events("unhandled_exception")
    assert "exception" in line  # the traceback of a bug is kept
