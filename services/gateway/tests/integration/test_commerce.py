"""The /v1 commerce routes against real HTTP services (uvicorn on free ports) and real Redis.

Forwarding to each service (path, query, body and headers as they arrive; status, body and the
contract's headers as they come back), validation before any call, 401 before validation,
timeouts (504), the breaker (503 without calling), one service down not breaking another,
retries of idempotent calls only, 5xx answers never leaking, and rate limits.
"""

from __future__ import annotations

import time
import uuid
from typing import Any
from urllib.parse import parse_qsl

import httpx
import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from gateway.bootstrap import GatewaySettings, RateLimitSettings
from shared.observability import Metrics

from .conftest import gateway, upstream_settings
from .upstreams import FakeService, Issuer, Reply, free_port

pytestmark = pytest.mark.integration

ID = "0190a0e4-8d5b-7c1e-9a3f-1b2c3d4e5f60"
TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
PRODUCT = {"sku": "SKU-1", "name": "Widget", "price": {"amount_minor": 1999, "currency": "EUR"}}
ORDER = {"currency": "EUR", "lines": [{"sku": "SKU-1", "quantity": 2}]}
HOOK = {"url": "https://hooks.example.com/ordo", "event_types": ["order.confirmed"]}


@pytest.fixture
def auth(issuer: Issuer) -> dict[str, str]:
    return {"Authorization": f"Bearer {issuer.token()}"}


def problem(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert (body["status"], body["code"]) == (status, code)
    return body


# One operation per service: (method, public path, query, JSON body, service, internal path,
# the service's reply, the public headers expected back).
FORWARDS = [
    pytest.param(
        "POST", "/v1/products", "", PRODUCT, "catalog", "/products",
        Reply(201, {"id": ID}, {"Location": f"/products/{ID}", "Idempotent-Replayed": "true"}),
        {"location": f"/v1/products/{ID}", "idempotent-replayed": "true"},
        id="catalog-createProduct",
    ),
    pytest.param(
        "POST", "/v1/stock/SKU-1/adjustments", "", {"delta": -2, "reason": "shrinkage"},
        "catalog", "/stock/SKU-1/adjustments",
        Reply(201, {"id": ID}, {"Location": "/nowhere"}), {},  # no Location in this contract
        id="catalog-adjustStock",
    ),
    pytest.param(
        "GET", "/v1/orders", "status=pending&status=confirmed&limit=5&junk=1", None,
        "orders", "/orders", Reply(200, {"items": [], "next_cursor": None}), {},
        id="orders-listOrders",
    ),
    pytest.param(
        "POST", "/v1/orders", "", ORDER, "orders", "/orders",
        Reply(201, {"id": ID}, {"Location": f"/orders/{ID}"}), {"location": f"/v1/orders/{ID}"},
        id="orders-placeOrder",
    ),
    pytest.param(
        "POST", f"/v1/orders/{ID}/cancel", "", {"note": "changed my mind"}, "orders",
        f"/orders/{ID}/cancel", Reply(202, {"id": ID, "status": "cancelling"}), {},
        id="orders-cancelOrder",
    ),
    pytest.param(
        "GET", f"/v1/orders/{ID}/payment", "", None, "payments", f"/orders/{ID}/payment",
        Reply(200, {"id": ID, "status": "authorized"}), {},
        id="payments-getOrderPayment",
    ),
    pytest.param(
        "POST", "/v1/webhook-endpoints", "", HOOK, "notifications", "/webhook-endpoints",
        Reply(201, {"id": ID}, {"Location": f"/webhook-endpoints/{ID}"}),
        {"location": f"/v1/webhook-endpoints/{ID}"},
        id="notifications-createWebhookEndpoint",
    ),
    pytest.param(
        "GET", f"/v1/webhook-endpoints/{ID}/deliveries",
        "status=failed&created_after=2026-11-26T10:00:00%2B01:00", None, "notifications",
        f"/webhook-endpoints/{ID}/deliveries", Reply(200, {"items": [], "next_cursor": None}), {},
        id="notifications-listWebhookDeliveries",
    ),
    pytest.param(
        "DELETE", f"/v1/webhook-endpoints/{ID}", "", None, "notifications",
        f"/webhook-endpoints/{ID}", Reply(204), {},
        id="notifications-deleteWebhookEndpoint",
    ),
]  # fmt: skip


@pytest.mark.parametrize(
    ("method", "path", "query", "body", "service", "internal", "reply", "headers_back"), FORWARDS
)
async def test_each_service_receives_the_call_and_its_answer_is_relayed(
    commerce_settings: GatewaySettings,
    upstreams: dict[str, FakeService],
    auth: dict[str, str],
    spans: InMemorySpanExporter,
    method: str,
    path: str,
    query: str,
    body: Any,
    service: str,
    internal: str,
    reply: Reply,
    headers_back: dict[str, str],
) -> None:
    upstreams[service].reply(
        Reply(reply.status, reply.body, {**reply.headers, "X-Internal-Host": "db-1"})
    )
    sent = {
        **auth,
        "Idempotency-Key": "key-42",
        "traceparent": f"00-{TRACE_ID}-00f067aa0ba902b7-01",
        "tracestate": "vendor=opaque",
        "X-Request-ID": "req-42",
        "Cookie": "ordo_refresh=never-forwarded",
        "X-Forwarded-Host": "evil.example",
    }
    async with gateway(commerce_settings) as client:
        url = f"{path}?{query}" if query else path
        response = await client.request(method, url, json=body, headers=sent)

    assert response.status_code == reply.status, response.text
    if reply.body is None:
        assert response.content == b""
    else:
        assert response.json() == reply.body
    for name, value in headers_back.items():
        assert response.headers[name] == value
    assert "location" in response.headers or "location" not in headers_back
    assert "x-internal-host" not in response.headers
    assert response.headers["x-request-id"] == "req-42"

    [seen] = upstreams[service].seen
    others = [name for name, s in upstreams.items() if s.seen and name != service]
    assert not others, "only the owning service is called"
    assert (seen.method, seen.path) == (method, internal)
    declared = [pair for pair in parse_qsl(query) if pair[0] != "junk"]
    assert sorted(seen.query) == sorted(declared)
    assert seen.headers["authorization"] == auth["Authorization"]
    assert seen.headers["x-request-id"] == "req-42"
    assert seen.headers["traceparent"].split("-")[1] == TRACE_ID
    assert seen.headers["tracestate"] == "vendor=opaque"
    assert "cookie" not in seen.headers
    assert "x-forwarded-host" not in seen.headers
    creating = method == "POST" and reply.status == 201
    assert seen.headers.get("idempotency-key") == ("key-42" if creating else None)
    if body is None:
        assert seen.body == b""
    else:
        assert seen.json() == body
        assert seen.headers["content-type"] == "application/json"
    client_spans = [s for s in spans.get_finished_spans() if s.name == f"{method} {service}"]
    assert any(format(s.context.trace_id, "032x") == TRACE_ID for s in client_spans)


async def test_the_query_is_forwarded_as_validated(
    commerce_settings: GatewaySettings, upstreams: dict[str, FakeService], auth: dict[str, str]
) -> None:
    async with gateway(commerce_settings) as client:
        response = await client.get(
            "/v1/stock?sku=B-2&sku=A-1&available_lt=5&unknown=x&limit=7", headers=auth
        )
    assert response.status_code == 200, response.text
    [seen] = upstreams["catalog"].seen
    assert seen.query == [("limit", "7"), ("sku", "B-2"), ("sku", "A-1"), ("available_lt", "5")]


BAD_REQUESTS = [
    ("GET", "/v1/products/not-a-uuid", {}, None, "path.product_id"),
    ("GET", "/v1/products?limit=0", {}, None, "query.limit"),
    ("GET", "/v1/products?limit=ten", {}, None, "query.limit"),
    ("GET", "/v1/products?limit=5&limit=6", {}, None, "query.limit"),
    ("GET", "/v1/products?currency=eur", {}, None, "query.currency"),
    ("GET", "/v1/orders?status=shipped", {}, None, "query.status.0"),
    ("GET", "/v1/orders?placed_after=yesterday", {}, None, "query.placed_after"),
    ("GET", "/v1/stock/-bad-sku", {}, None, "path.sku"),
    ("GET", "/v1/webhook-endpoints?enabled=maybe", {}, None, "query.enabled"),
    ("POST", "/v1/products", {}, PRODUCT, "header.Idempotency-Key"),
    ("POST", "/v1/products", {"Idempotency-Key": "has space"}, PRODUCT, "header.Idempotency-Key"),
    ("POST", "/v1/products", {"Idempotency-Key": "k"}, {**PRODUCT, "admin": True}, "body.admin"),
    (
        "POST",
        "/v1/products",
        {"Idempotency-Key": "k"},
        {**PRODUCT, "price": {"amount_minor": 1.5, "currency": "EUR"}},
        "body.price.amount_minor",
    ),
    (
        "POST",
        "/v1/stock/A/adjustments",
        {"Idempotency-Key": "k"},
        {"delta": 0, "reason": "r"},
        "body.delta",
    ),
    ("POST", "/v1/orders", {"Idempotency-Key": "k"}, {**ORDER, "lines": []}, "body.lines"),
    ("POST", "/v1/orders", {"Idempotency-Key": "k"}, None, "body"),
    (
        "PUT",
        f"/v1/products/{ID}/price",
        {},
        {"price": {"amount_minor": -1, "currency": "EUR"}},
        "body.price.amount_minor",
    ),
    ("PUT", "/v1/stock/A", {}, {"on_hand": "7"}, "body.on_hand"),
    (
        "POST",
        "/v1/webhook-endpoints",
        {"Idempotency-Key": "k"},
        {**HOOK, "event_types": ["order.shipped"]},
        "body.event_types.0",
    ),
    ("POST", f"/v1/orders/{ID}/cancel", {}, {"note": "x" * 501}, "body.note"),
]


@pytest.mark.parametrize(("method", "path", "headers", "body", "field"), BAD_REQUESTS)
async def test_bad_input_is_refused_before_any_service_is_called(
    commerce_settings: GatewaySettings,
    upstreams: dict[str, FakeService],
    auth: dict[str, str],
    method: str,
    path: str,
    headers: dict[str, str],
    body: Any,
    field: str,
) -> None:
    async with gateway(commerce_settings) as client:
        response = await client.request(method, path, json=body, headers={**auth, **headers})
    found = problem(response, 422, "validation.failed")
    assert field in {e["path"] for e in found["errors"]}, found
    assert found["instance"] == path.split("?", maxsplit=1)[0]
    assert all(not service.seen for service in upstreams.values())


async def test_malformed_json_and_other_media_types_are_refused(
    commerce_settings: GatewaySettings, upstreams: dict[str, FakeService], auth: dict[str, str]
) -> None:
    headers = {**auth, "Idempotency-Key": "k"}
    async with gateway(commerce_settings) as client:
        broken = await client.post(
            "/v1/orders",
            content=b'{"currency": "EUR", ',
            headers={**headers, "Content-Type": "application/json"},
        )
        text = await client.post(
            "/v1/orders", content=b"currency=EUR", headers={**headers, "Content-Type": "text/plain"}
        )
    assert problem(broken, 422, "validation.failed")["errors"][0]["type"] == "json_invalid"
    assert problem(text, 422, "validation.failed")["errors"][0]["type"] == "content_type"
    assert not upstreams["orders"].seen


async def test_tokens_are_checked_before_the_input(
    commerce_settings: GatewaySettings, upstreams: dict[str, FakeService]
) -> None:
    async with gateway(commerce_settings) as client:
        anonymous = await client.get("/v1/products?limit=0")
        forged = await client.get(
            "/v1/orders", headers={"Authorization": "Bearer eyJhbGciOiJub25lIn0.e30."}
        )
    problem(anonymous, 401, "auth.unauthenticated")
    assert anonymous.headers["www-authenticate"] == 'Bearer realm="ordo"'
    problem(forged, 401, "auth.token_invalid")
    assert all(not service.seen for service in upstreams.values())


async def test_a_service_problem_passes_through_with_the_public_instance(
    commerce_settings: GatewaySettings, upstreams: dict[str, FakeService], auth: dict[str, str]
) -> None:
    sent = {
        "type": "https://errors.ordo.dev/order.not_cancellable",
        "title": "Conflict",
        "status": 409,
        "code": "order.not_cancellable",
        "detail": "The order is confirmed.",
        "instance": f"/orders/{ID}/cancel",
    }
    upstreams["orders"].reply(Reply(409, sent))
    async with gateway(commerce_settings) as client:
        response = await client.post(f"/v1/orders/{ID}/cancel", headers=auth)
    assert problem(response, 409, "order.not_cancellable") == {
        **sent,
        "instance": f"/v1/orders/{ID}/cancel",
    }


async def test_a_slow_service_is_a_504_and_is_not_retried(
    commerce_settings: GatewaySettings, upstreams: dict[str, FakeService], auth: dict[str, str]
) -> None:
    upstreams["catalog"].reply(Reply(200, {"late": True}, delay_s=2.0))
    async with gateway(commerce_settings) as client:
        started = time.monotonic()
        response = await client.get(f"/v1/products/{ID}", headers=auth)
        elapsed = time.monotonic() - started
    body = problem(response, 504, "operation.timeout")
    assert "Idempotency-Key" in body["detail"]
    assert elapsed < 1.5  # the 0.5 s budget, not the service's 2 s
    assert len(upstreams["catalog"].seen) == 1


async def test_the_breaker_opens_after_n_failures_and_then_calls_nothing(
    commerce_settings: GatewaySettings, upstreams: dict[str, FakeService], auth: dict[str, str]
) -> None:
    upstreams["catalog"].reply(Reply(500, {"detail": "boom"}))
    metrics = Metrics()
    async with gateway(commerce_settings, metrics) as client:
        failures = [await client.get("/v1/products", headers=auth) for _ in range(3)]
        assert metrics.registry.get_sample_value("breaker_state", {"name": "catalog"}) == 2
        fast = await client.get("/v1/products", headers=auth)
        orders = await client.get("/v1/orders", headers=auth)
    for failure in failures:
        problem(failure, 502, "dependency.failed")
    body = problem(fast, 503, "dependency.unavailable")
    assert 1 <= int(fast.headers["retry-after"]) <= 30
    assert "circuit" not in body["detail"]
    assert len(upstreams["catalog"].seen) == 3  # fail_max, and not one call more
    assert orders.status_code == 200, "the orders breaker is another breaker"
    assert metrics.registry.get_sample_value("breaker_state", {"name": "orders"}) == 0


async def test_catalog_down_does_not_break_orders(
    commerce_settings: GatewaySettings, upstreams: dict[str, FakeService], auth: dict[str, str]
) -> None:
    closed = f"http://127.0.0.1:{free_port()}"
    settings = commerce_settings.model_copy(
        update={"upstreams": upstream_settings(upstreams, catalog=closed)}
    )
    metrics = Metrics()
    async with gateway(settings, metrics) as client:
        down = [await client.get("/v1/stock", headers=auth) for _ in range(2)]
        placed = await client.post(
            "/v1/orders", json=ORDER, headers={**auth, "Idempotency-Key": "k-1"}
        )
        listed = await client.get("/v1/orders", headers=auth)
    for response in down:
        problem(response, 503, "dependency.unavailable")
        assert int(response.headers["retry-after"]) >= 1
    assert metrics.registry.get_sample_value("breaker_state", {"name": "catalog"}) == 2
    assert placed.status_code == 200, placed.text  # the fake answers 200 by default
    assert listed.status_code == 200
    assert metrics.registry.get_sample_value("breaker_state", {"name": "orders"}) == 0
    assert len(upstreams["orders"].seen) == 2


async def test_a_get_is_retried_after_a_transient_503(
    commerce_settings: GatewaySettings, upstreams: dict[str, FakeService], auth: dict[str, str]
) -> None:
    upstreams["catalog"].reply(
        Reply(503, {"code": "dependency.unavailable"}), Reply(200, {"id": ID})
    )
    async with gateway(commerce_settings) as client:
        response = await client.get(f"/v1/products/{ID}", headers=auth)
    assert response.status_code == 200, response.text
    assert response.json() == {"id": ID}
    first, second = upstreams["catalog"].seen
    assert first.headers["x-request-id"] == second.headers["x-request-id"]


async def test_a_naturally_idempotent_cancel_is_retried_too(
    commerce_settings: GatewaySettings, upstreams: dict[str, FakeService], auth: dict[str, str]
) -> None:
    upstreams["orders"].reply(Reply(502), Reply(202, {"id": ID, "status": "cancelling"}))
    async with gateway(commerce_settings) as client:
        response = await client.post(f"/v1/orders/{ID}/cancel", headers=auth)
    assert response.status_code == 202, response.text
    assert len(upstreams["orders"].seen) == 2


@pytest.mark.parametrize("failure", [Reply(503, {"code": "x"}, {"Retry-After": "9"}), Reply(502)])
async def test_a_post_that_reached_the_service_is_never_retried(
    commerce_settings: GatewaySettings,
    upstreams: dict[str, FakeService],
    auth: dict[str, str],
    failure: Reply,
) -> None:
    upstreams["catalog"].reply(failure, Reply(201, {"id": ID}))
    async with gateway(commerce_settings) as client:
        response = await client.post(
            "/v1/products", json=PRODUCT, headers={**auth, "Idempotency-Key": "k-1"}
        )
    if failure.status == 503:
        problem(response, 503, "dependency.unavailable")
        assert response.headers["retry-after"] == "9"
    else:
        problem(response, 502, "dependency.failed")
    assert len(upstreams["catalog"].seen) == 1


async def test_server_errors_never_leak_what_went_wrong(
    commerce_settings: GatewaySettings, upstreams: dict[str, FakeService], auth: dict[str, str]
) -> None:
    leak = {"code": "internal.error", "detail": "connection to db-1.internal:5432 refused"}
    upstreams["payments"].reply(
        Reply(500, leak, {"X-Debug": "stack"}),
        Reply(200, None),  # unreachable: a 500 is not retried
    )
    upstreams["notifications"].reply(Reply(200, "<html>", content_type="text/html"))
    async with gateway(commerce_settings) as client:
        failed = await client.get(f"/v1/orders/{ID}/payment", headers=auth)
        garbled = await client.get("/v1/webhook-endpoints", headers=auth)
    body = problem(failed, 502, "dependency.failed")
    assert "db-1" not in failed.text
    assert "x-debug" not in failed.headers
    assert body["requestId"] in body["detail"]
    problem(garbled, 502, "dependency.failed")
    assert "html" not in garbled.text


async def test_rate_limits_apply_to_the_commerce_routes(
    commerce_settings: GatewaySettings,
    upstreams: dict[str, FakeService],
    issuer: Issuer,
    redis_prefix: str,
) -> None:
    limits = RateLimitSettings(key_prefix=redis_prefix.rstrip(":"), per_user="2/minute")
    settings = commerce_settings.model_copy(update={"rate_limits": limits})
    auth = {"Authorization": f"Bearer {issuer.token(user_id=uuid.uuid4())}"}
    async with gateway(settings) as client:
        answers = [await client.get("/v1/orders", headers=auth) for _ in range(3)]
    assert [a.status_code for a in answers] == [200, 200, 429]
    problem(answers[2], 429, "rate_limit.exceeded")
    assert answers[2].headers["ratelimit-policy"] == '"user";q=2;w=60'
    assert int(answers[2].headers["retry-after"]) >= 1
    assert answers[0].headers["ratelimit"].startswith('"user";r=1;')
    assert len(upstreams["orders"].seen) == 2
