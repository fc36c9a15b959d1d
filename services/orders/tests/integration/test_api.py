"""Orders' internal API on the real database: the contract's shapes and codes, tenancy, roles,
and the Idempotency-Key semantics under real concurrency (PostgreSQL advisory locks)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from asgi_lifespan import LifespanManager
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from orders.application.facade import OrdersUseCases
from orders.application.use_cases.on_payment_authorized import PaymentAuthorizedInput
from orders.application.use_cases.on_stock_reserved import StockReservedInput
from orders.bootstrap import AuthSettings, OrdersSettings, build_app
from orders.domain.values import Money, OrderLine
from shared.auth import ROLES, parse_permission_matrix
from shared.settings import DatabaseSettings

from .conftest import AUD, ISS, Tokens

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[4]
CONTRACT = yaml.safe_load((REPO / "contracts/openapi/orders.yaml").read_text())
MATRIX = parse_permission_matrix((REPO / "docs/security.md").read_text(), "orders")
BODY = {
    "currency": "EUR",
    "lines": [{"sku": "API-1", "quantity": 2}, {"sku": "API-2", "quantity": 1}],
}


@pytest.fixture(scope="module")
async def api(migrated: DatabaseSettings, tokens: Tokens) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client of orders' app (lifespan run)."""
    settings = OrdersSettings(
        environment="test",
        database=migrated.model_copy(update={"pool_size": 25, "max_overflow": 10}),
        auth=AuthSettings(issuer=ISS, audience=AUD),
        # No saga runs here, so the orders these tests place stay pending and the saga's
        # backpressure would refuse the next ones (test_backpressure.py covers it).
        backpressure_enabled=False,
    )
    app = build_app(settings, keys=tokens.keys)
    async with LifespanManager(app) as manager:
        transport = httpx.ASGITransport(app=manager.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://orders") as client:
            yield client


async def count_orders(engine: AsyncEngine, org_id: uuid.UUID) -> int:
    async with engine.connect() as conn:
        found = await conn.scalar(
            text("SELECT count(*) FROM orders WHERE org_id = :o"), {"o": org_id}
        )
    return int(found or 0)


async def test_place_get_list_and_cancel_through_the_api(
    api: httpx.AsyncClient, tokens: Tokens, org_id: uuid.UUID, engine: AsyncEngine
) -> None:
    member = tokens.headers(org_id)
    created = await api.post("/orders", json=BODY, headers=member)
    assert created.status_code == 201, created.text
    order = created.json()
    assert created.headers["Location"] == f"/orders/{order['id']}"
    assert "Idempotent-Replayed" not in created.headers
    assert order | {"id": None, "placed_by": None, "placed_at": None, "updated_at": None} == {
        "id": None,
        "status": "pending",
        "currency": "EUR",
        "lines": [
            {
                "sku": "API-1",
                "quantity": 2,
                "product_id": None,
                "unit_price": None,
                "line_total": None,
            },
            {
                "sku": "API-2",
                "quantity": 1,
                "product_id": None,
                "unit_price": None,
                "line_total": None,
            },
        ],
        "total": None,
        "placed_by": None,
        "placed_at": None,
        "updated_at": None,
        "confirmed_at": None,
        "closed_at": None,
        "status_reason": None,
        "version": 1,
    }
    viewer = tokens.headers(org_id, "viewer")
    got = await api.get(f"/orders/{order['id']}", headers=viewer)
    assert got.json() == order

    second = (await api.post("/orders", json=BODY, headers=tokens.headers(org_id))).json()
    page = await api.get("/orders", params={"limit": 1}, headers=viewer)
    assert [o["id"] for o in page.json()["items"]] == [second["id"]]
    rest = await api.get(
        "/orders", params={"limit": 1, "cursor": page.json()["next_cursor"]}, headers=viewer
    )
    assert ([o["id"] for o in rest.json()["items"]], rest.json()["next_cursor"]) == (
        [order["id"]],
        None,
    )
    foreign = await api.get(
        "/orders",
        params={"cursor": page.json()["next_cursor"], "status": "pending"},
        headers=viewer,
    )
    assert (foreign.status_code, foreign.json()["code"]) == (422, "validation.failed")

    cancelled = await api.post(
        f"/orders/{order['id']}/cancel", json={"note": "no longer needed"}, headers=member
    )
    assert cancelled.status_code == 202, cancelled.text
    assert (cancelled.json()["status"], cancelled.json()["status_reason"]) == (
        "cancelling",
        "customer_requested",
    )
    again = await api.post(f"/orders/{order['id']}/cancel", headers=member)  # no body at all
    assert (again.status_code, again.json()["version"]) == (202, 2)
    filtered = await api.get(
        "/orders", params=[("status", "cancelling"), ("status", "cancelled")], headers=viewer
    )
    assert [o["id"] for o in filtered.json()["items"]] == [order["id"]]
    window = {"placed_after": order["placed_at"], "placed_before": second["placed_at"]}
    placed_between = await api.get("/orders", params=window, headers=viewer)
    assert [o["id"] for o in placed_between.json()["items"]] == [order["id"]]
    naive = await api.get("/orders", params={"placed_after": "2026-01-01T00:00:00"}, headers=viewer)
    assert (naive.status_code, naive.json()["code"]) == (422, "validation.failed")
    unknown = await api.get("/orders", params={"status": "shipped"}, headers=viewer)
    assert unknown.status_code == 422
    mine = await api.get("/orders", params={"placed_by": order["placed_by"]}, headers=viewer)
    assert [o["id"] for o in mine.json()["items"]] == [order["id"]]
    assert await count_orders(engine, org_id) == 2


async def test_a_confirmed_order_is_not_cancellable(
    api: httpx.AsyncClient, tokens: Tokens, org_id: uuid.UUID, orders: OrdersUseCases
) -> None:
    order = (await api.post("/orders", json=BODY, headers=tokens.headers(org_id))).json()
    order_id = uuid.UUID(order["id"])
    product = uuid.uuid4()
    await orders.on_stock_reserved(
        StockReservedInput(
            org_id,
            order_id,
            uuid.uuid4(),
            [
                OrderLine("API-1", 2, product, Money(100, "EUR")),
                OrderLine("API-2", 1, product, Money(50, "EUR")),
            ],
            Money(250, "EUR"),
        )
    )
    await orders.on_payment_authorized(
        PaymentAuthorizedInput(org_id, order_id, uuid.uuid4(), Money(250, "EUR"))
    )
    confirmed = (await api.get(f"/orders/{order_id}", headers=tokens.headers(org_id))).json()
    assert confirmed["status"] == "confirmed"
    assert confirmed["total"] == {"amount_minor": 250, "currency": "EUR"}
    assert confirmed["lines"][0]["line_total"] == {"amount_minor": 200, "currency": "EUR"}
    refused = await api.post(f"/orders/{order_id}/cancel", headers=tokens.headers(org_id))
    assert (refused.status_code, refused.json()["code"]) == (409, "order.not_cancellable")
    assert refused.headers["content-type"] == "application/problem+json"


@pytest.mark.parametrize(
    ("body", "headers_change"),
    [
        ({"currency": "EUR", "lines": []}, {}),
        ({"currency": "eur", "lines": [{"sku": "A", "quantity": 1}]}, {}),
        ({"currency": "EUR", "lines": [{"sku": "A", "quantity": 0}]}, {}),
        ({"currency": "EUR", "lines": [{"sku": "A", "quantity": 10_001}]}, {}),
        (
            {
                "currency": "EUR",
                "lines": [{"sku": "A", "quantity": 1}, {"sku": "A", "quantity": 2}],
            },
            {},
        ),
        ({"currency": "EUR", "lines": [{"sku": "A", "quantity": 1}], "coupon": "x"}, {}),
        (BODY, {"Idempotency-Key": None}),
        (BODY, {"Idempotency-Key": "has space"}),
        (BODY, {"Idempotency-Key": "k" * 256}),
    ],
)
async def test_bad_input_is_422_and_writes_nothing(
    api: httpx.AsyncClient,
    tokens: Tokens,
    org_id: uuid.UUID,
    engine: AsyncEngine,
    body: dict[str, Any],
    headers_change: dict[str, str | None],
) -> None:
    headers = tokens.headers(org_id)
    for name, value in headers_change.items():
        if value is None:
            del headers[name]
        else:
            headers[name] = value
    response = await api.post("/orders", json=body, headers=headers)
    assert (response.status_code, response.json()["code"]) == (422, "validation.failed")
    assert response.headers["content-type"] == "application/problem+json"
    assert await count_orders(engine, org_id) == 0


async def test_unknown_and_foreign_orders_are_404_and_anonymous_is_401(
    api: httpx.AsyncClient, tokens: Tokens, org_id: uuid.UUID
) -> None:
    order = (await api.post("/orders", json=BODY, headers=tokens.headers(org_id))).json()
    stranger = tokens.headers(uuid.uuid4(), "owner")
    for response in (
        await api.get(f"/orders/{order['id']}", headers=stranger),
        await api.post(f"/orders/{order['id']}/cancel", headers=stranger),
        await api.get(f"/orders/{uuid.uuid4()}", headers=tokens.headers(org_id)),
    ):
        assert (response.status_code, response.json()["code"]) == (404, "order.not_found")
    assert (await api.get("/orders", headers=stranger)).json()["items"] == []
    bad_id = await api.get("/orders/not-a-uuid", headers=tokens.headers(org_id))
    assert bad_id.status_code == 422
    anonymous = await api.get(f"/orders/{order['id']}")
    assert (anonymous.status_code, anonymous.json()["code"]) == (401, "auth.unauthenticated")


# -- Idempotency-Key ---------------------------------------------------------------------------


async def test_replay_and_key_reuse(
    api: httpx.AsyncClient, tokens: Tokens, org_id: uuid.UUID, engine: AsyncEngine
) -> None:
    headers = tokens.headers(org_id)
    first = await api.post("/orders", json=BODY, headers=headers)
    # The same key and body, another member, later, keys in another order: the stored 201.
    reordered = {"lines": BODY["lines"], "currency": "EUR"}
    replay = await api.post(
        "/orders",
        json=reordered,
        headers=tokens.headers(org_id) | {"Idempotency-Key": headers["Idempotency-Key"]},
    )
    assert replay.status_code == 201
    assert replay.headers["Idempotent-Replayed"] == "true"
    assert replay.headers["Location"] == first.headers["Location"]
    assert replay.json() == first.json()  # the same document (JSONB keeps no key order)
    reused = await api.post("/orders", json=BODY | {"currency": "USD"}, headers=headers)
    assert (reused.status_code, reused.json()["code"]) == (422, "idempotency.key_reused")
    assert await count_orders(engine, org_id) == 1
    other_org = uuid.uuid4()
    elsewhere = await api.post(
        "/orders",
        json=BODY,
        headers=tokens.headers(other_org) | {"Idempotency-Key": headers["Idempotency-Key"]},
    )
    assert (elsewhere.status_code, "Idempotent-Replayed" in elsewhere.headers) == (201, False)


async def test_a_twin_of_a_request_in_flight_is_409_then_replayed(
    api: httpx.AsyncClient, tokens: Tokens, org_id: uuid.UUID, engine: AsyncEngine
) -> None:
    headers = tokens.headers(org_id)
    async with engine.connect() as blocker:
        # Hold the first request inside its transaction, after its claim: its INSERT into
        # orders waits for this lock (SHARE conflicts with the insert's ROW EXCLUSIVE).
        transaction = await blocker.begin()
        await blocker.execute(text("LOCK TABLE orders IN SHARE MODE"))
        first = asyncio.create_task(api.post("/orders", json=BODY, headers=headers))
        for _ in range(200):
            await blocker.execute(text("SELECT pg_stat_clear_snapshot()"))
            waiting = await blocker.scalar(
                text(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                    "AND wait_event_type = 'Lock' AND query LIKE 'INSERT INTO orders %'"
                )
            )
            if waiting:
                break
            await asyncio.sleep(0.01)
        else:
            pytest.fail("the first request never reached its insert")
        twin = await api.post("/orders", json=BODY, headers=headers)
        assert (twin.status_code, twin.json()["code"]) == (409, "idempotency.in_progress")
        await transaction.rollback()
    created = await first
    assert created.status_code == 201
    assert "Idempotent-Replayed" not in created.headers
    replay = await api.post("/orders", json=BODY, headers=headers)
    assert (replay.status_code, replay.headers.get("Idempotent-Replayed")) == (201, "true")
    assert replay.json() == created.json()
    assert await count_orders(engine, org_id) == 1


async def test_twenty_concurrent_requests_with_one_key_create_one_order(
    api: httpx.AsyncClient, tokens: Tokens, org_id: uuid.UUID, engine: AsyncEngine
) -> None:
    key = str(uuid.uuid4())
    responses = await asyncio.gather(
        *(
            api.post(
                "/orders", json=BODY, headers=tokens.headers(org_id) | {"Idempotency-Key": key}
            )
            for _ in range(20)
        )
    )
    codes = sorted(r.status_code for r in responses)
    assert set(codes) <= {201, 409}, codes
    originals = [
        r for r in responses if r.status_code == 201 and "Idempotent-Replayed" not in r.headers
    ]
    assert len(originals) == 1
    for response in responses:
        if response.status_code == 409:
            assert response.json()["code"] == "idempotency.in_progress"
        else:
            assert response.json() == originals[0].json()
    assert await count_orders(engine, org_id) == 1


# -- the contract and the permission matrix ---------------------------------------------------


def operations(document: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    def body(op: dict[str, Any]) -> tuple[bool, str | None]:
        request = op.get("requestBody")
        if request is None:
            return (False, None)
        schema = request["content"]["application/json"]["schema"]
        return (bool(request.get("required")), schema.get("$ref"))

    return {
        (path, method): {
            "operationId": op["operationId"],
            "success": sorted(code for code in op["responses"] if code.startswith("2")),
            "params": sorted((p["name"], p["in"]) for p in op.get("parameters", [])),
            "body": body(op),
        }
        for path, item in document["paths"].items()
        for method, op in item.items()
    }


def resolved_params(document: dict[str, Any], op: dict[str, Any]) -> list[dict[str, Any]]:
    found = []
    for param in op.get("parameters", []):
        ref = param.get("$ref")
        found.append(document["components"]["parameters"][ref.rsplit("/", 1)[-1]] if ref else param)
    return found


async def test_the_served_openapi_matches_the_contract(api: httpx.AsyncClient) -> None:
    served = (await api.get("/openapi.json")).json()
    contract = CONTRACT | {
        "paths": {
            path: {
                method: op | {"parameters": resolved_params(CONTRACT, op)}
                for method, op in item.items()
            }
            for path, item in CONTRACT["paths"].items()
        }
    }
    assert operations(served) == operations(contract)
    for name in ("Money", "OrderStatus"):
        assert set(served["components"]["schemas"][name].get("enum", [])) == set(
            contract["components"]["schemas"][name].get("enum", [])
        )
    for name in ("Order", "OrderLine", "PlaceOrderRequest", "CancelOrderRequest", "OrderPage"):
        assert set(served["components"]["schemas"][name]["properties"]) == set(
            contract["components"]["schemas"][name]["properties"]
        ), name
        assert set(served["components"]["schemas"][name].get("required", [])) == set(
            contract["components"]["schemas"][name].get("required", [])
        ), name


def _http_operations() -> list[tuple[str, str, str, str, int]]:
    found = []
    for path, item in CONTRACT["paths"].items():
        for method, op in item.items():
            success = min(int(code) for code in op["responses"] if code.startswith("2"))
            found.append((op["operationId"], method, path, op["x-permission"], success))
    return found


@pytest.mark.parametrize(
    ("operation", "role", "scope"),
    [
        pytest.param(op, role.value, scope, id=f"{op[0]}-{role.value}-{scope}")
        for op in _http_operations()
        for role in ROLES
        for scope in ("own", "other")
    ],
)
async def test_permission_matrix_over_http(
    api: httpx.AsyncClient,
    tokens: Tokens,
    org_id: uuid.UUID,
    operation: tuple[str, str, str, str, int],
    role: str,
    scope: str,
) -> None:
    operation_id, method, path, permission, success = operation
    order = (await api.post("/orders", json=BODY, headers=tokens.headers(org_id, "owner"))).json()
    caller_org = org_id if scope == "own" else uuid.uuid4()
    headers = tokens.headers(caller_org, role)
    url = path.replace("{order_id}", order["id"])
    response = await api.request(
        method.upper(), url, json=BODY if operation_id == "placeOrder" else None, headers=headers
    )
    names_an_order = "{order_id}" in path
    if scope == "other" and names_an_order:
        expected = 404  # another org's order does not exist for the caller, whatever the role
    elif any(r.value == role for r in MATRIX[permission]):
        expected = success
    else:
        expected = 403
    assert response.status_code == expected, response.text
    if expected == 403:
        assert response.json()["code"] == "auth.permission_denied"
