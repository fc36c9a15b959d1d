from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest
from fastapi import APIRouter, FastAPI
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from shared.errors import (
    AppError,
    ConflictError,
    InfrastructureError,
    NotFoundError,
    RateLimitedError,
    ValidationError,
)
from shared.http import PROBLEM_CONTENT_TYPE, create_app, status_for
from shared.observability.metrics import Metrics
from shared.settings import ServiceSettings

STANDARD_MEMBERS = {"type", "title", "status", "code", "detail", "instance", "traceId", "requestId"}


@pytest.mark.parametrize(
    ("kind", "status", "code"),
    [
        ("validation", 422, "validation.failed"),
        ("not_found", 404, "resource.not_found"),
        ("conflict", 409, "resource.conflict"),
        ("permission", 403, "auth.permission_denied"),
        ("unauthenticated", 401, "auth.unauthenticated"),
        ("rate_limited", 429, "rate_limit.exceeded"),
        ("infrastructure", 503, "infrastructure.error"),
        ("dependency", 503, "dependency.unavailable"),
        ("timeout", 503, "operation.timeout"),
        ("app", 500, "internal.error"),
    ],
)
async def test_app_errors_map_to_problems(
    client: httpx.AsyncClient, kind: str, status: int, code: str
) -> None:
    response = await client.get(f"/raise/{kind}")

    assert response.status_code == status
    assert response.headers["content-type"] == PROBLEM_CONTENT_TYPE
    body = response.json()
    assert body.keys() >= STANDARD_MEMBERS
    assert body["status"] == status
    assert body["code"] == code
    # The settings' default locally: the gateway's error pages (ORDO_ERRORS_BASE_URL).
    assert body["type"] == f"http://127.0.0.1:8000/docs/errors/{code}"
    assert body["instance"] == f"/raise/{kind}"
    assert body["requestId"] == response.headers["x-request-id"]


async def test_a_not_found_problem_carries_message_and_details(client: httpx.AsyncClient) -> None:
    body = (await client.get("/raise/not_found")).json()

    assert body["title"] == "Not Found"
    assert body["detail"] == "Order 42 was not found."
    assert body["details"] == {"order_id": 42}


async def test_rate_limited_sets_retry_after_rounded_up(client: httpx.AsyncClient) -> None:
    response = await client.get("/raise/rate_limited")

    assert response.headers["retry-after"] == "3"


async def test_unauthenticated_names_the_bearer_scheme(client: httpx.AsyncClient) -> None:
    response = await client.get("/raise/unauthenticated")

    assert response.status_code == 401
    assert response.headers["www-authenticate"] == 'Bearer realm="ordo"'
    other = await client.get("/raise/permission")
    assert "www-authenticate" not in other.headers


async def test_a_5xx_app_error_keeps_its_details_in_the_log(
    client: httpx.AsyncClient, logs: Any
) -> None:
    response = await client.get("/raise/infrastructure")

    assert "details" not in response.json()
    assert "db-7.internal" not in response.text
    assert response.json()["detail"] == "The database is unavailable."
    [line] = logs.events("request_failed")
    assert line["details"] == {"host": "db-7.internal"}
    assert line["code"] == "infrastructure.error"


async def test_domain_validation_errors_list_their_fields(client: httpx.AsyncClient) -> None:
    body = (await client.get("/raise/validation")).json()

    assert body["errors"] == [
        {"path": "body.items.0.quantity", "message": "must be positive", "type": "greater_than"}
    ]


async def test_request_validation_errors_become_422_with_field_paths(
    client: httpx.AsyncClient,
) -> None:
    response = await client.post(
        "/orders",
        json={"items": [{"quantity": 2}, {"quantity": 0}], "password": {"raw": "s3cr3t-value"}},
    )

    assert response.status_code == 422
    assert response.headers["content-type"] == PROBLEM_CONTENT_TYPE
    body = response.json()
    assert body["code"] == "validation.failed"
    paths = {error["path"]: error["type"] for error in body["errors"]}
    assert paths == {"body.items.1.quantity": "greater_than", "body.password": "string_type"}
    assert "s3cr3t" not in response.text  # the offending input is never echoed back


async def test_malformed_json_is_a_422_problem(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/orders", content=b"{not json", headers={"content-type": "application/json"}
    )

    assert response.status_code == 422
    assert response.json()["errors"][0]["type"] == "json_invalid"


async def test_path_parameters_are_validated_too(client: httpx.AsyncClient) -> None:
    body = (await client.get("/orders/abc")).json()

    assert body["errors"][0]["path"] == "path.order_id"


async def test_unknown_route_is_a_404_problem(client: httpx.AsyncClient) -> None:
    response = await client.get("/no/such/route")

    assert response.status_code == 404
    assert response.headers["content-type"] == PROBLEM_CONTENT_TYPE
    assert response.json()["code"] == "resource.not_found"


async def test_wrong_method_is_a_405_problem_with_allow(client: httpx.AsyncClient) -> None:
    response = await client.delete("/orders/1")

    assert response.status_code == 405
    assert response.headers["allow"] == "GET"
    assert response.json()["code"] == "http.method_not_allowed"


async def test_http_exceptions_keep_a_4xx_detail_but_hide_a_5xx_one(
    client: httpx.AsyncClient,
) -> None:
    teapot = (await client.get("/http/418")).json()
    broken = (await client.get("/http/502")).json()

    assert teapot["detail"] == "custom detail"
    assert teapot["code"] == "http.i_m_a_teapot"
    assert broken["detail"] == "Bad Gateway"


async def test_an_unexpected_exception_is_an_opaque_500(client: httpx.AsyncClient) -> None:
    response = await client.get("/raise/bug", headers={"X-Request-ID": "req-123"})

    assert response.status_code == 500
    assert response.headers["content-type"] == PROBLEM_CONTENT_TYPE
    body = response.json()
    assert body["code"] == "internal.error"
    assert body["requestId"] == "req-123"
    assert "req-123" in body["detail"]  # the correlation id to quote
    for leak in ("hunter2", "RuntimeError", "Traceback", "postgresql", "password"):
        assert leak not in response.text


async def test_the_500_is_logged_in_full(client: httpx.AsyncClient, logs: Any) -> None:
    await client.get("/raise/bug", headers={"X-Request-ID": "req-456"})

    [line] = logs.events("unhandled_exception")
    assert line["level"] == "error"
    assert line["request_id"] == "req-456"
    assert line["exception"][0]["exc_type"] == "RuntimeError"
    assert line["exception"][0]["exc_value"] == (
        "password=[REDACTED] at postgresql://db-7.internal"
    )


async def test_trace_id_is_the_otel_trace_when_tracing(
    client: httpx.AsyncClient, span_exporter: InMemorySpanExporter
) -> None:
    response = await client.get("/raise/not_found")

    server_span = next(s for s in span_exporter.get_finished_spans() if s.name.startswith("GET"))
    assert response.json()["traceId"] == format(server_span.context.trace_id, "032x")


async def test_the_unexpected_error_is_recorded_on_the_span(
    client: httpx.AsyncClient, span_exporter: InMemorySpanExporter
) -> None:
    await client.get("/raise/bug")

    server_span = next(s for s in span_exporter.get_finished_spans() if s.name.startswith("GET"))
    assert [event.name for event in server_span.events] == ["exception"]
    assert not server_span.status.is_ok


async def test_a_body_over_the_limit_is_a_413_problem(
    make_app: Callable[..., FastAPI], client_for: Callable[[FastAPI], httpx.AsyncClient]
) -> None:
    async with client_for(make_app(max_body_size=64)) as http:
        declared = await http.post("/orders", json={"items": [{"quantity": 1}] * 20})

        async def chunks():  # type: ignore[no-untyped-def]
            for _ in range(10):
                yield b'{"items": [      '

        streamed = await http.post(
            "/orders", content=chunks(), headers={"content-type": "application/json"}
        )

    for response in (declared, streamed):
        assert response.status_code == 413
        assert response.headers["content-type"] == PROBLEM_CONTENT_TYPE
        assert response.json()["code"] == "request.too_large"


@pytest.mark.parametrize(
    ("exc", "status"),
    [
        (ValidationError(), 422),
        (NotFoundError(), 404),
        (ConflictError(), 409),
        (RateLimitedError(), 429),
        (InfrastructureError(), 503),
        (AppError(), 500),
        (ValueError(), 500),
    ],
)
def test_status_for(exc: BaseException, status: int) -> None:
    assert status_for(exc) == status


def test_a_service_subclass_inherits_its_family_status() -> None:
    class OrderNotFoundError(NotFoundError):
        code = "order.not_found"

    assert status_for(OrderNotFoundError()) == 404


async def test_openapi_documents_problem_details(client: httpx.AsyncClient) -> None:
    document = (await client.get("/openapi.json")).json()

    responses = document["paths"]["/orders"]["post"]["responses"]
    problem_ref = {"$ref": "#/components/schemas/ProblemDetails"}
    assert responses["422"]["content"] == {PROBLEM_CONTENT_TYPE: {"schema": problem_ref}}
    assert responses["default"]["content"] == {PROBLEM_CONTENT_TYPE: {"schema": problem_ref}}
    schemas = document["components"]["schemas"]
    assert {"ProblemDetails", "FieldErrorModel"} <= schemas.keys()
    assert "HTTPValidationError" not in schemas
    assert "/health/live" not in document["paths"]
    assert "/metrics" not in document["paths"]


@pytest.mark.parametrize(
    ("overrides", "base"),
    [
        ({}, "http://127.0.0.1:8000/docs/errors/"),
        ({"environment": "test"}, "http://127.0.0.1:8000/docs/errors/"),
        ({"environment": "production"}, "https://errors.ordo.dev/"),
        ({"environment": "staging"}, "https://errors.ordo.dev/"),
        (
            {"errors_base_url": "https://docs.example.com/errors"},
            "https://docs.example.com/errors/",
        ),
    ],
)
def test_the_problem_type_base_is_a_setting(overrides: dict[str, Any], base: str) -> None:
    assert ServiceSettings(service_name="unit", **overrides).errors_base() == base


async def test_an_app_with_another_errors_base_points_types_there(
    make_app: Callable[..., FastAPI], client_for: Callable[[FastAPI], httpx.AsyncClient]
) -> None:
    app = make_app()
    app.state.settings = app.state.settings.model_copy(
        update={"errors_base_url": "https://docs.example.com/errors/"}
    )
    async with client_for(app) as other:
        body = (await other.get("/raise/not_found")).json()

    assert body["type"] == "https://docs.example.com/errors/resource.not_found"


async def test_a_405_allows_every_method_of_the_path_across_routes(
    metrics: Metrics,
    settings: ServiceSettings,
    client_for: Callable[[FastAPI], httpx.AsyncClient],
) -> None:
    # One route per operation (as the gateway mounts them): the path has two.
    router = APIRouter()
    router.add_api_route("/things/{id}", _nothing, methods=["GET"])
    router.add_api_route("/things/{id}", _nothing, methods=["DELETE"])
    app = create_app(
        title="unit",
        version="0",
        settings=settings,
        readiness={},
        routers=[router],
        metrics=metrics,
    )
    async with client_for(app) as http:
        response = await http.options("/things/1")

    assert response.status_code == 405
    assert response.headers["allow"] == "DELETE, GET"


async def _nothing() -> None:
    return None
