"""The gateway serves the public contract: every path and method of gateway.v1.yaml, with the same
parameters (name, in, required, schema), request body, response statuses, response schemas and
headers, references resolved on both sides.

The document is fetched over HTTP from the gateway app (no servers needed: nothing connects). It
is rendered from the routes actually mounted and the validators they run, so it describes what
is enforced; the last tests prove the comparison fails when a route or a parameter is removed.
"""

from __future__ import annotations

import dataclasses
import difflib
import json
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI
from fastapi.routing import APIRoute, iter_route_contexts
from openapi_spec_validator import validate

from gateway.adapters.http import commerce
from gateway.adapters.openapi import RequestValidator, find_validator
from gateway.bootstrap import GatewaySettings, build_app

from .conftest import METHODS, OPENAPI_DIR, load

GATEWAY = OPENAPI_DIR / "gateway.v1.yaml"


def _resolved(doc: dict[str, Any], node: Any) -> Any:
    """``node`` with every local reference replaced by its target (the contract has no cycles)."""
    while isinstance(node, dict) and "$ref" in node:
        target: Any = doc
        for part in node["$ref"].removeprefix("#/").split("/"):
            target = target[part]
        node = target
    if isinstance(node, dict):
        return {key: _resolved(doc, value) for key, value in node.items()}
    if isinstance(node, list):
        return [_resolved(doc, value) for value in node]
    return node


def _operations(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        f"{method.upper()} {path}": op
        for path, item in doc.get("paths", {}).items()
        for method, op in item.items()
        if method in METHODS
    }


def _parameters(doc: dict[str, Any], op: dict[str, Any]) -> dict[str, dict[str, Any]]:
    found = {}
    for raw in op.get("parameters", []):
        param = _resolved(doc, raw)
        found[f"{param['in']} {param['name'].lower()}"] = {
            "name": param["name"],
            "in": param["in"],
            "required": param.get("required", False),
            "schema": param.get("schema"),
            "style": param.get("style"),
            "explode": param.get("explode"),
        }
    return found


def _body(doc: dict[str, Any], op: dict[str, Any]) -> dict[str, Any] | None:
    body = _resolved(doc, op.get("requestBody"))
    if body is None:
        return None
    content = {media: entry.get("schema") for media, entry in body.get("content", {}).items()}
    return {"required": body.get("required", False), "content": content}


def _responses(doc: dict[str, Any], op: dict[str, Any]) -> dict[str, dict[str, Any]]:
    found = {}
    for status, raw in op.get("responses", {}).items():
        response = _resolved(doc, raw)
        found[status] = {
            "content": {m: e.get("schema") for m, e in response.get("content", {}).items()},
            "headers": response.get("headers", {}),
        }
    return found


def _diff(where: str, expected: Any, served: Any) -> list[str]:
    if expected == served:
        return []
    lines = difflib.unified_diff(
        json.dumps(expected, indent=2, sort_keys=True).splitlines(),
        json.dumps(served, indent=2, sort_keys=True).splitlines(),
        fromfile=f"contract: {where}",
        tofile=f"served: {where}",
        lineterm="",
    )
    return ["\n".join(lines)]


def _keyed(where: str, what: str, expected: dict[str, Any], served: dict[str, Any]) -> list[str]:
    out = [
        f"{where}: {what} {k} is in the contract but not served"
        for k in expected
        if k not in served
    ]
    out += [
        f"{where}: {what} {k} is served but not in the contract"
        for k in served
        if k not in expected
    ]
    for key in expected.keys() & served.keys():
        out += _diff(f"{where} {what} {key}", expected[key], served[key])
    return out


def differences(contract: dict[str, Any], served: dict[str, Any]) -> list[str]:
    """Every way ``served`` departs from ``contract``, one readable entry each."""
    expected_ops, served_ops = _operations(contract), _operations(served)
    problems = _keyed(
        "document", "operation", dict.fromkeys(expected_ops), dict.fromkeys(served_ops)
    )
    for key in expected_ops.keys() & served_ops.keys():
        mine, theirs = expected_ops[key], served_ops[key]
        problems += _diff(f"{key} operationId", mine.get("operationId"), theirs.get("operationId"))
        problems += _diff(f"{key} security", mine.get("security"), theirs.get("security"))
        problems += _keyed(
            key, "parameter", _parameters(contract, mine), _parameters(served, theirs)
        )
        problems += _diff(f"{key} requestBody", _body(contract, mine), _body(served, theirs))
        problems += _keyed(key, "response", _responses(contract, mine), _responses(served, theirs))
    return sorted(problems)


async def served_document(app: FastAPI, url: str = "/v1/openapi.json") -> dict[str, Any]:
    async with LifespanManager(app) as manager:
        transport = httpx.ASGITransport(app=manager.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as client:
            response = await client.get(url)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/json")
    return response.json()


@pytest.fixture
def settings() -> GatewaySettings:
    return GatewaySettings(environment="test")


@pytest.fixture
async def served(settings: GatewaySettings) -> dict[str, Any]:
    return await served_document(build_app(settings))


def test_the_served_document_equals_the_contract(served: dict[str, Any]) -> None:
    problems = differences(load(GATEWAY), served)
    assert not problems, "the served OpenAPI departs from the contract:\n" + "\n".join(problems)


def test_the_served_document_is_a_valid_openapi_3_1_document(served: dict[str, Any]) -> None:
    assert served["openapi"] == "3.1.0"
    validate(served)
    assert served["info"] == load(GATEWAY)["info"]
    assert served["webhooks"] == load(GATEWAY)["webhooks"]
    assert served["components"] == load(GATEWAY)["components"]


def test_every_public_operation_is_served(served: dict[str, Any]) -> None:
    assert set(_operations(served)) == set(_operations(load(GATEWAY)))
    assert len(_operations(served)) == 34


def test_every_served_operation_declares_the_502_it_can_answer(served: dict[str, Any]) -> None:
    """The proxy answers 502 dependency.failed when a service fails; every route forwards."""
    bad_gateway = served["components"]["responses"]["BadGateway"]
    assert set(bad_gateway["content"]) == {"application/problem+json"}
    assert bad_gateway["description"].startswith("dependency.failed")
    for key, op in _operations(served).items():
        assert op["responses"].get("502") == {"$ref": "#/components/responses/BadGateway"}, key


async def test_openapi_json_and_v1_openapi_json_are_the_same(
    settings: GatewaySettings, served: dict[str, Any]
) -> None:
    assert await served_document(build_app(settings), "/openapi.json") == served


async def test_the_comparison_fails_when_a_route_is_removed(
    settings: GatewaySettings, monkeypatch: pytest.MonkeyPatch
) -> None:
    routes = tuple(f for f in commerce.COMMERCE_ROUTES if f.operation_id != "listOrders")
    monkeypatch.setattr(commerce, "COMMERCE_ROUTES", routes)
    problems = differences(load(GATEWAY), await served_document(build_app(settings)))
    assert problems == ["document: operation GET /v1/orders is in the contract but not served"]


def _validator(app: FastAPI, operation_id: str) -> RequestValidator:
    for context in iter_route_contexts(app.routes):
        route = context.original_route
        if isinstance(route, APIRoute) and route.operation_id == operation_id:
            found = find_validator(context.dependant)
            assert found is not None
            return found
    raise AssertionError(f"no route for {operation_id}")


async def test_the_comparison_fails_when_a_parameter_is_removed(settings: GatewaySettings) -> None:
    app = build_app(settings)
    validator = _validator(app, "listOrders")
    validator.parameters = tuple(p for p in validator.parameters if p.name != "status")
    problems = differences(load(GATEWAY), await served_document(app))
    assert problems == ["GET /v1/orders: parameter query status is in the contract but not served"]


async def test_the_comparison_fails_when_a_schema_differs(settings: GatewaySettings) -> None:
    app = build_app(settings)
    validator = _validator(app, "placeOrder")
    assert validator.body is not None
    spec = {**validator.body.spec, "required": False}
    validator.body = dataclasses.replace(validator.body, spec=spec)
    problems = differences(load(GATEWAY), await served_document(app))
    assert len(problems) == 1
    assert problems[0].startswith("--- contract: POST /v1/orders requestBody")
    assert '-  "required": true' in problems[0]
    assert '+  "required": false' in problems[0]
