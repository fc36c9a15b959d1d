"""The permission matrix, generated: every contract operation with an ``x-permission`` x every
role x own org / another org, expected outcomes read from docs/security.md (never listed here).

Own org: the operation's success status when the role holds the permission, else 403.
Another org: 404 for every role, owner included (existence does not leak).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from shared.auth import ROLES, Role, parse_permission_matrix

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[4]
CONTRACT = yaml.safe_load((REPO / "contracts/openapi/identity.yaml").read_text())
MATRIX = parse_permission_matrix((REPO / "docs/security.md").read_text(), "identity")
PASSWORD = "matrix password 123"


@dataclass(frozen=True)
class Operation:
    operation_id: str
    method: str
    path: str
    permission: str
    success: int
    body_schema: str | None


def contract_operations() -> list[Operation]:
    found = []
    for path, item in CONTRACT["paths"].items():
        for method, op in item.items():
            if "x-permission" not in op:
                continue
            success = min(int(code) for code in op["responses"] if code.startswith("2"))
            ref = (
                op.get("requestBody", {})
                .get("content", {})
                .get("application/json", {})
                .get("schema", {})
                .get("$ref")
            )
            found.append(
                Operation(
                    op["operationId"],
                    method,
                    path,
                    op["x-permission"],
                    success,
                    ref.rsplit("/", 1)[-1] if ref else None,
                )
            )
    return found


CASES = [
    pytest.param(op, role, scope, id=f"{op.operation_id}-{role}-{scope}")
    for op in contract_operations()
    for role in ROLES
    for scope in ("own", "other")
]


def test_every_permission_of_the_contract_is_in_the_matrix() -> None:
    assert {op.permission for op in contract_operations()} == set(MATRIX)
    assert len(CASES) == len(MATRIX) * len(ROLES) * 2


async def sign_up(client: httpx.AsyncClient) -> dict[str, Any]:
    name = uuid.uuid4().hex[:12]
    email = f"{name}@matrix.example.com"
    response = await client.post(
        "/auth/signup",
        json={"email": email, "password": PASSWORD, "display_name": name, "org_name": name},
        headers={"Idempotency-Key": str(uuid.uuid4())},
    )
    assert response.status_code == 201, response.text
    return response.json() | {"email": email}


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def member_of(client: httpx.AsyncClient, owner: dict[str, Any], role: Role) -> dict[str, Any]:
    """A new user added to ``owner``'s org with ``role``, with a token for that org."""
    person = await sign_up(client)
    added = await client.post(
        f"/orgs/{owner['org_id']}/members",
        json={"email": person["email"], "role": role.value},
        headers=bearer(owner["access_token"]) | {"Idempotency-Key": str(uuid.uuid4())},
    )
    assert added.status_code == 201, added.text
    switched = await client.post(
        "/auth/switch-org",
        json={"org_id": owner["org_id"]},
        headers=bearer(person["access_token"]),
    )
    assert switched.status_code == 200, switched.text
    return switched.json()


def body_for(schema: str | None, target_email: str) -> dict[str, Any] | None:
    # Valid bodies per request schema: the matrix is about authorization, not validation.
    return {
        None: None,
        "AddMemberRequest": {"email": target_email, "role": "viewer"},
        "ChangeRoleRequest": {"role": "member"},
    }[schema]


@pytest.mark.parametrize(("op", "role", "scope"), CASES)
async def test_permission_matrix(
    identity: httpx.AsyncClient, op: Operation, role: Role, scope: str
) -> None:
    home_owner = await sign_up(identity)
    caller = home_owner if role == Role.OWNER else await member_of(identity, home_owner, role)
    # The org the request names, and a member of it to act on (a viewer).
    target_org_owner = home_owner if scope == "own" else await sign_up(identity)
    target = await member_of(identity, target_org_owner, Role.VIEWER)
    newcomer = await sign_up(identity)  # someone to add
    path = op.path.format(org_id=target_org_owner["org_id"], user_id=target["user_id"])
    response = await identity.request(
        op.method,
        path,
        json=body_for(op.body_schema, newcomer["email"]),
        # Creating POSTs require a key; the others ignore it.
        headers=bearer(caller["access_token"]) | {"Idempotency-Key": str(uuid.uuid4())},
    )
    granted = role in MATRIX[op.permission]
    expected = 404 if scope == "other" else (op.success if granted else 403)
    assert response.status_code == expected, response.text
    if expected >= 400:
        assert response.headers["content-type"].startswith("application/problem+json")
