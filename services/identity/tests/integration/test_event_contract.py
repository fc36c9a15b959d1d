"""Every outbox row identity writes validates against contracts/asyncapi/identity.yaml."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import jsonschema
import pytest
import yaml
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from identity.adapters.messaging.events import EVENT_TYPES
from identity.bootstrap import IdentitySettings

pytestmark = pytest.mark.integration


def resolve(node: Any, root: dict[str, Any]) -> Any:
    """Inline local ``$ref``s so jsonschema sees plain JSON Schema."""
    if isinstance(node, dict):
        if "$ref" in node:
            target: Any = root
            for part in node["$ref"].lstrip("#/").split("/"):
                target = target[part]
            return resolve(target, root)
        return {k: resolve(v, root) for k, v in node.items()}
    if isinstance(node, list):
        return [resolve(v, root) for v in node]
    return node


async def test_outbox_rows_match_the_asyncapi_contract(
    identity: httpx.AsyncClient, identity_settings: IdentitySettings, repo_root
) -> None:
    contract = yaml.safe_load((repo_root / "contracts/asyncapi/identity.yaml").read_text())
    messages = {
        m["x-ce-type"]: resolve(m, contract) for m in contract["components"]["messages"].values()
    }
    assert set(messages) == set(EVENT_TYPES.values())
    owner = (
        await identity.post(
            "/auth/signup",
            json={
                "email": f"{uuid.uuid4().hex[:8]}@example.com",
                "password": "contract password 1",
                "display_name": "Owner",
                "org_name": "Contract",
            },
        )
    ).json()
    other = f"{uuid.uuid4().hex[:8]}@example.com"
    await identity.post(
        "/auth/signup",
        json={
            "email": other,
            "password": "contract password 1",
            "display_name": "O",
            "org_name": "O",
        },
    )
    auth = {"Authorization": f"Bearer {owner['access_token']}"}
    added = await identity.post(
        f"/orgs/{owner['org_id']}/members", json={"email": other, "role": "member"}, headers=auth
    )
    user_id = added.json()["user_id"]
    path = f"/orgs/{owner['org_id']}/members/{user_id}"
    await identity.patch(path, json={"role": "admin"}, headers=auth)
    await identity.delete(path, headers=auth)

    engine = create_async_engine(identity_settings.database.url())
    try:
        async with engine.connect() as conn:
            rows = (
                await conn.execute(
                    text(
                        "SELECT key, payload, headers FROM outbox "
                        "WHERE headers->>'ce_orgid' = :o ORDER BY seq"
                    ),
                    {"o": owner["org_id"]},
                )
            ).all()
    finally:
        await engine.dispose()
    changes = []
    for row in rows:
        message = messages[row.headers["ce_type"]]
        jsonschema.validate(row.payload, message["payload"])
        jsonschema.validate(row.headers, message["headers"])
        if row.headers["ce_type"].endswith("membership.changed.v1"):
            assert row.key == owner["org_id"]
            changes.append(row.payload["change"])
    assert changes == ["added", "added", "role_changed", "removed"]
