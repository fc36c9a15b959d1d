"""What goes upstream and what comes back: headers allowed each way, Location under /v1,
problems with the public instance, and nothing else of the service's answer."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from starlette.exceptions import HTTPException
from starlette.requests import Request

from gateway.adapters.http.proxy import public_location, relay, upstream_request
from gateway.adapters.openapi import Contract, Operation, ValidRequest, find_contract
from gateway.adapters.upstream import UpstreamResponse

PRODUCT_ID = "0190a0e4-8d5b-7c1e-9a3f-1b2c3d4e5f60"


@cache
def contract() -> Contract:
    return Contract.load(find_contract(Path(__file__).resolve().parent))


def op(operation_id: str) -> Operation:
    return contract().operation(operation_id)


def request(path: str, headers: dict[str, str]) -> Request:
    scope = {
        "type": "http",
        "method": "POST",
        "path": path,
        "query_string": b"",
        "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()],
        "state": {"request_id": "gw-request-1"},
    }
    return Request(scope)


def valid(**overrides: Any) -> ValidRequest:
    values: dict[str, Any] = {
        "path_params": {},
        "query": (),
        "headers": {},
        "values": {},
        "body": None,
        "has_body": False,
    }
    return ValidRequest(**(values | overrides))


def answer(status: int, body: Any = None, **headers: str) -> UpstreamResponse:
    content = b"" if body is None else json.dumps(body).encode()
    media = "application/problem+json" if status >= 400 else "application/json"
    return UpstreamResponse(status, content, {"content-type": media, **headers})


def test_only_the_allowed_headers_go_upstream() -> None:
    incoming = request(
        "/v1/products",
        {
            "Authorization": "Bearer t",
            "Idempotency-Key": "k-1",
            "Cookie": "ordo_refresh=secret",
            "X-Request-ID": "client chosen",
            "X-Forwarded-Host": "evil",
            "Content-Type": "text/plain",
        },
    )
    call = upstream_request(
        incoming,
        op("createProduct"),
        valid(headers={"Idempotency-Key": "k-1"}, body={"sku": "A"}, has_body=True),
    )
    assert call.headers == {
        "Authorization": "Bearer t",
        "Idempotency-Key": "k-1",
        "X-Request-ID": "gw-request-1",
        "Content-Type": "application/json",
    }
    assert (call.method, call.path, call.content) == ("POST", "/products", b'{"sku":"A"}')
    assert call.idempotent is False


def test_path_values_are_encoded_into_the_internal_path() -> None:
    call = upstream_request(
        request("/v1/stock/A.b_c-1/adjustments", {}),
        op("adjustStock"),
        valid(path_params={"sku": "A.b_c-1"}),
    )
    assert call.path == "/stock/A.b_c-1/adjustments"
    put = upstream_request(request("/", {}), op("setStockOnHand"), valid(path_params={"sku": "A"}))
    assert put.idempotent is True


@pytest.mark.parametrize(
    ("location", "public"),
    [
        ("/products/1", "/v1/products/1"),
        ("http://127.0.0.1:8002/products/1?x=1", "/v1/products/1"),
        ("/v1/orders/1", "/v1/orders/1"),
        ("//evil.example/x", "/v1/x"),  # only ever a path: the host is dropped
        ("http://host//evil.example/x", None),  # would read as protocol-relative
        ("products/1", None),
    ],
)
def test_location_becomes_a_public_path(location: str, public: str | None) -> None:
    assert public_location(location) == public


def test_only_headers_the_contract_declares_for_the_status_come_back() -> None:
    created = answer(
        201,
        {"id": PRODUCT_ID},
        location=f"/products/{PRODUCT_ID}",
        **{
            "idempotent-replayed": "true",
            "server": "uvicorn",
            "x-internal-host": "db-1",
            "set-cookie": "a=b",
        },
    )
    response = relay(request("/v1/products", {}), op("createProduct"), created)
    assert response.status_code == 201
    assert json.loads(bytes(response.body)) == {"id": PRODUCT_ID}
    kept = {
        k: v for k, v in response.headers.items() if k not in ("content-length", "content-type")
    }
    assert kept == {"location": f"/v1/products/{PRODUCT_ID}", "idempotent-replayed": "true"}
    read = relay(request("/v1/products/x", {}), op("getProduct"), answer(200, {}, location="/x"))
    assert "location" not in read.headers


def test_header_values_must_be_plain_ascii() -> None:
    sneaky = answer(201, {}, **{"idempotent-replayed": "tru\u00e9"})
    response = relay(request("/v1/products", {}), op("createProduct"), sneaky)
    assert "idempotent-replayed" not in response.headers


def test_a_problem_passes_through_with_the_public_instance() -> None:
    problem = {
        "type": "https://errors.ordo.dev/product.not_found",
        "title": "Not Found",
        "status": 404,
        "code": "product.not_found",
        "instance": f"/products/{PRODUCT_ID}",
        "requestId": "gw-request-1",
    }
    path = f"/v1/products/{PRODUCT_ID}"
    response = relay(request(path, {}), op("getProduct"), answer(404, problem))
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    assert json.loads(bytes(response.body)) == {**problem, "instance": path}


def test_a_401_from_the_service_names_the_scheme() -> None:
    problem = {"type": "t", "title": "Unauthorized", "status": 401, "code": "auth.token_invalid"}
    response = relay(request("/v1/orders", {}), op("listOrders"), answer(401, problem))
    assert response.headers["www-authenticate"] == 'Bearer realm="ordo"'


def test_a_4xx_that_is_not_a_problem_says_no_more_than_the_status() -> None:
    odd = UpstreamResponse(
        404, b'{"detail":"Not Found at /internal/x"}', {"content-type": "application/json"}
    )
    with pytest.raises(HTTPException) as caught:
        relay(request("/v1/orders/x", {}), op("getOrder"), odd)
    assert caught.value.status_code == 404


def test_no_content_stays_empty() -> None:
    response = relay(
        request("/v1/webhook-endpoints/x", {}), op("deleteWebhookEndpoint"), answer(204)
    )
    assert (response.status_code, response.body) == (204, b"")
