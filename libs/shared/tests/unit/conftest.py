"""Fixtures for the chassis' unit tests: no network, no servers, in-memory everything."""

from __future__ import annotations

import io
import json
import warnings
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from typing import Any

import httpx
import pytest
import structlog
from fastapi import APIRouter, FastAPI, HTTPException, Response
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from prometheus_client import CollectorRegistry
from pydantic import BaseModel, Field

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
)
from shared.http import ReadinessCheck, create_app
from shared.observability.logging import configure_logging
from shared.observability.metrics import Metrics
from shared.observability.tracing import configure_tracing
from shared.settings import ServiceSettings


@pytest.fixture(scope="session")
def _session_exporter() -> InMemorySpanExporter:
    # The global tracer provider can be set once per process: one exporter for the session.
    exporter = InMemorySpanExporter()
    configure_tracing("ordo-unit-tests", "0.0.0", None, exporter=exporter)
    return exporter


@pytest.fixture
def span_exporter(_session_exporter: InMemorySpanExporter) -> InMemorySpanExporter:
    """The in-memory exporter of the process's tracer provider, emptied for this test."""
    _session_exporter.clear()
    return _session_exporter


@pytest.fixture
def metrics() -> Metrics:
    """Metrics on a private registry, so tests never see each other's samples."""
    return Metrics(CollectorRegistry())


class LogCapture:
    """The JSON lines written by ``configure_logging`` during one test."""

    def __init__(self, stream: io.StringIO) -> None:
        self.stream = stream

    @property
    def lines(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.stream.getvalue().splitlines() if line]

    def events(self, event: str) -> list[dict[str, Any]]:
        return [line for line in self.lines if line.get("event") == event]


class _Discard(io.StringIO):
    def write(self, text: str) -> int:
        return len(text)


@pytest.fixture(scope="session", autouse=True)
def _json_logging() -> None:
    # Unconfigured structlog renders tracebacks with rich, which takes seconds per error.
    configure_logging("unit-svc", "DEBUG", stream=_Discard())


@pytest.fixture
def logs() -> Iterator[LogCapture]:
    """Capture the JSON log lines written during the test."""
    stream = io.StringIO()
    configure_logging("unit-svc", "DEBUG", stream=stream)
    yield LogCapture(stream)
    configure_logging("unit-svc", "DEBUG", stream=_Discard())


@pytest.fixture
def client_for() -> Callable[[FastAPI], httpx.AsyncClient]:
    """Build an httpx client that calls the ASGI app in-process."""

    def build(app: FastAPI) -> httpx.AsyncClient:
        return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test")

    return build


class Quantity(BaseModel):
    quantity: int = Field(gt=0)


class PlaceOrder(BaseModel):
    items: list[Quantity]
    password: str | None = None


ERRORS_BY_KIND: dict[str, Exception] = {
    "validation": ValidationError(
        "Quantity must be positive.",
        errors=[FieldError("body.items.0.quantity", "must be positive", "greater_than")],
    ),
    "not_found": NotFoundError("Order 42 was not found.", details={"order_id": 42}),
    "conflict": ConflictError("Order 42 is already confirmed."),
    "permission": PermissionDeniedError(),
    "unauthenticated": UnauthenticatedError(),
    "rate_limited": RateLimitedError(retry_after=2.2),
    "infrastructure": InfrastructureError(
        "The database is unavailable.", details={"host": "db-7.internal"}
    ),
    "dependency": DependencyUnavailableError(),
    "timeout": OperationTimeoutError(),
    "app": AppError("Something we anticipated went wrong."),
    "bug": RuntimeError("password=hunter2 at postgresql://db-7.internal"),
}


def _api() -> APIRouter:
    router = APIRouter()

    @router.get("/ok")
    async def ok() -> dict[str, bool]:
        return {"ok": True}

    @router.get("/cached")
    async def cached(response: Response) -> dict[str, bool]:
        response.headers["Cache-Control"] = "public, max-age=60"
        return {"ok": True}

    @router.post("/orders", status_code=201)
    async def place(body: PlaceOrder) -> dict[str, int]:
        return {"lines": len(body.items)}

    @router.get("/orders/{order_id}")
    async def get_order(order_id: int) -> dict[str, int]:
        return {"id": order_id}

    @router.get("/raise/{kind}")
    async def fail(kind: str) -> None:
        raise ERRORS_BY_KIND[kind]

    @router.get("/http/{status}")
    async def http_error(status: int) -> None:
        raise HTTPException(status_code=status, detail="custom detail")

    @router.get("/log")
    async def log_something() -> dict[str, bool]:
        structlog.get_logger("unit").info("inside_request")
        return {"ok": True}

    return router


async def _ready() -> None:
    return None


@pytest.fixture(scope="session")
def settings() -> ServiceSettings:
    """Settings for test apps (built once: each build re-reads the environment)."""
    with warnings.catch_warnings():
        # pydantic-settings warns about the secrets config when /run/secrets does not exist.
        warnings.simplefilter("ignore", UserWarning)
        return ServiceSettings(service_name="unit")


@pytest.fixture
def make_app(metrics: Metrics, settings: ServiceSettings) -> Callable[..., FastAPI]:
    """Build an app with ``create_app``, the test routes above and the given readiness checks."""

    def build(readiness: Mapping[str, ReadinessCheck] | None = None, **kwargs: Any) -> FastAPI:
        return create_app(
            title="unit",
            version="0.0.0",
            settings=settings,
            readiness=readiness if readiness is not None else {"postgres": _ready},
            routers=[_api()],
            metrics=metrics,
            **kwargs,
        )

    return build


@pytest.fixture
async def client(
    make_app: Callable[..., FastAPI], client_for: Callable[[FastAPI], httpx.AsyncClient]
) -> AsyncIterator[httpx.AsyncClient]:
    """A client of the default test app."""
    async with client_for(make_app()) as http:
        yield http
