"""Every outbox row identity writes validates against contracts/asyncapi/identity.yaml."""

from __future__ import annotations

import uuid

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from identity.adapters.messaging.events import EVENT_TYPES
from identity.bootstrap import IdentitySettings
from shared.testing.asyncapi import EventContract

pytestmark = pytest.mark.integration


async def test_outbox_rows_match_the_asyncapi_contract(
    identity: httpx.AsyncClient, identity_settings: IdentitySettings, repo_root
) -> None:
    contract = EventContract.load(repo_root / "contracts/asyncapi/identity.yaml")
    assert set(contract.messages) == set(EVENT_TYPES.values())
    owner = (
        await identity.post(
            "/auth/signup",
            json={
                "email": f"{uuid.uuid4().hex[:8]}@example.com",
                "password": "contract password 1",
                "display_name": "Owner",
                "org_name": "Contract",
            },
            headers={"Idempotency-Key": str(uuid.uuid4())},
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
        headers={"Idempotency-Key": str(uuid.uuid4())},
    )
    auth = {"Authorization": f"Bearer {owner['access_token']}"}
    added = await identity.post(
        f"/orgs/{owner['org_id']}/members",
        json={"email": other, "role": "member"},
        headers=auth | {"Idempotency-Key": str(uuid.uuid4())},
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
        contract.validate(row.headers["ce_type"], row.headers, row.payload)
        if row.headers["ce_type"].endswith("membership.changed.v1"):
            assert row.key == owner["org_id"]
            changes.append(row.payload["change"])
    assert changes == ["added", "added", "role_changed", "removed"]
