"""Orders' permission policy equals docs/security.md, covers the contract's x-permission, and
every operation x role x own/other org behaves as the matrix says (cases generated from the
contract and the document, never listed here)."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
import yaml

from orders.application.facade import OrdersUseCases
from orders.application.permissions import POLICY
from orders.application.use_cases.cancel_order import CancelOrderInput
from orders.application.use_cases.place_order import PlaceOrderInput
from orders.domain.errors import OrderNotFoundError
from orders.domain.values import OrderLine
from shared.auth import ROLES, Role, parse_permission_matrix
from shared.auth.principal import Principal
from shared.errors import PermissionDeniedError

from .conftest import principal_of

REPO = Path(__file__).resolve().parents[4]
CONTRACT = yaml.safe_load((REPO / "contracts/openapi/orders.yaml").read_text())
MATRIX = parse_permission_matrix((REPO / "docs/security.md").read_text(), "orders")
OPERATIONS = {
    op["operationId"]: op["x-permission"]
    for item in CONTRACT["paths"].values()
    for op in item.values()
    if isinstance(op, dict) and "x-permission" in op
}

Call = Callable[[OrdersUseCases, Principal, uuid.UUID], Awaitable[object]]


async def _place(uc: OrdersUseCases, caller: Principal, _order: uuid.UUID) -> object:
    line = [OrderLine("A", 1)]
    return await uc.place_order(caller, PlaceOrderInput(caller.org_id, "EUR", line, "key"))


async def _get(uc: OrdersUseCases, caller: Principal, order: uuid.UUID) -> object:
    return await uc.get_order(caller, org_id=caller.org_id, order_id=order)


async def _list(uc: OrdersUseCases, caller: Principal, _order: uuid.UUID) -> object:
    return await uc.list_orders(caller, org_id=caller.org_id)


async def _cancel(uc: OrdersUseCases, caller: Principal, order: uuid.UUID) -> object:
    return await uc.cancel_order(caller, CancelOrderInput(caller.org_id, order))


CALLS: dict[str, Call] = {
    "placeOrder": _place,
    "getOrder": _get,
    "listOrders": _list,
    "cancelOrder": _cancel,
}


def test_the_policy_is_the_documented_matrix() -> None:
    assert dict(POLICY.grants) == MATRIX


def test_every_contract_permission_is_in_the_policy_and_every_operation_is_tested() -> None:
    assert set(OPERATIONS.values()) == set(POLICY.grants)
    assert set(OPERATIONS) == set(CALLS)


@pytest.mark.parametrize(
    ("operation", "role", "scope"),
    [
        (op, role, scope)
        for op in sorted(OPERATIONS)
        for role in ROLES
        for scope in ("own", "other")
    ],
)
async def test_operation_role_and_org(
    orders: OrdersUseCases, org_id: uuid.UUID, operation: str, role: Role, scope: str
) -> None:
    owner = principal_of(org_id, Role.OWNER)
    existing = await _place(orders, owner, uuid.uuid4())
    order_id = existing.order.id  # type: ignore[attr-defined]
    caller = principal_of(org_id if scope == "own" else uuid.uuid4(), role)
    call = CALLS[operation](orders, caller, order_id)
    if scope == "other" and operation in ("getOrder", "cancelOrder"):
        with pytest.raises(OrderNotFoundError):  # another org's order does not exist for them
            await call
    elif role in MATRIX[OPERATIONS[operation]]:
        assert await call is not None
    else:
        with pytest.raises(PermissionDeniedError):
            await call
