"""Identity's internal API against the real database: sessions, events, headers, contract."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import httpx
import pytest
import yaml
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from identity.bootstrap import IdentitySettings

pytestmark = pytest.mark.integration

PASSWORD = "integration password 1"


async def sign_up(client: httpx.AsyncClient, name: str | None = None) -> dict[str, Any]:
    name = name or uuid.uuid4().hex[:10]
    response = await client.post(
        "/auth/signup",
        json={
            "email": f"{name}@example.com",
            "password": PASSWORD,
            "display_name": name,
            "org_name": f"{name} org",
        },
        headers={"Idempotency-Key": str(uuid.uuid4())},
    )
    assert response.status_code == 201, response.text
    return response.json() | {"email": f"{name}@example.com"}


def bearer(session: dict[str, Any]) -> dict[str, str]:
    return {"Authorization": f"Bearer {session['access_token']}"}


async def test_sign_up_log_in_me_and_no_store(identity: httpx.AsyncClient) -> None:
    session = await sign_up(identity)
    assert session["token_type"] == "Bearer"
    assert 300 <= session["expires_in"] <= 900
    login = await identity.post(
        "/auth/login", json={"email": session["email"].upper(), "password": PASSWORD}
    )
    assert login.status_code == 200
    assert login.headers["cache-control"] == "no-store"
    me = await identity.get("/me", headers=bearer(login.json()))
    assert me.status_code == 200
    assert me.json()["role"] == "owner"
    assert me.json()["org_id"] == session["org_id"]


async def test_refresh_reuse_revokes_the_family_in_the_database(
    identity: httpx.AsyncClient,
) -> None:
    first = await sign_up(identity)
    second = await identity.post("/auth/refresh", json={"refresh_token": first["refresh_token"]})
    assert second.status_code == 200
    reuse = await identity.post("/auth/refresh", json={"refresh_token": first["refresh_token"]})
    assert reuse.status_code == 401
    assert reuse.json()["code"] == "auth.refresh_token_reused"
    newest = await identity.post(
        "/auth/refresh", json={"refresh_token": second.json()["refresh_token"]}
    )
    assert newest.status_code == 401  # the revocation committed despite the error


async def test_concurrent_refreshes_of_one_token_let_one_win_and_revoke_the_family(
    identity: httpx.AsyncClient,
) -> None:
    session = await sign_up(identity)
    body = {"refresh_token": session["refresh_token"]}
    answers = await asyncio.gather(*(identity.post("/auth/refresh", json=body) for _ in range(4)))
    statuses = sorted(a.status_code for a in answers)
    assert statuses == [200, 401, 401, 401]
    winner = next(a for a in answers if a.status_code == 200).json()
    again = await identity.post("/auth/refresh", json={"refresh_token": winner["refresh_token"]})
    assert again.status_code == 401


async def test_logout_ends_the_session(identity: httpx.AsyncClient) -> None:
    session = await sign_up(identity)
    out = await identity.post("/auth/logout", json={"refresh_token": session["refresh_token"]})
    assert out.status_code == 204
    after = await identity.post("/auth/refresh", json={"refresh_token": session["refresh_token"]})
    assert after.status_code == 401


async def test_events_are_written_to_the_outbox_with_the_registration(
    identity: httpx.AsyncClient, identity_settings: IdentitySettings
) -> None:
    session = await sign_up(identity)
    engine = create_async_engine(identity_settings.database.url())
    try:
        async with engine.connect() as conn:
            rows = (
                await conn.execute(
                    text(
                        "SELECT topic, key, payload, headers FROM outbox "
                        "WHERE headers->>'ce_orgid' = :org ORDER BY seq"
                    ),
                    {"org": session["org_id"]},
                )
            ).all()
    finally:
        await engine.dispose()
    assert [r.headers["ce_type"] for r in rows] == [
        "ordo.identity.user.registered.v1",
        "ordo.identity.membership.changed.v1",
    ]
    assert {r.topic for r in rows} == {"identity.events"}
    registered, added = rows
    assert registered.key == session["user_id"]
    assert added.key == session["org_id"]
    assert added.payload["change"] == "added"
    assert added.payload["role"] == "owner"
    assert "email" not in registered.payload
    assert registered.headers["ce_source"] == "/ordo/identity"
    assert registered.headers["ce_specversion"] == "1.0"


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("get", "/me", None),
        ("post", "/auth/login", {"email": "x@example.com", "password": "wrong"}),
        ("post", "/auth/signup", {"email": "not-an-email"}),
        ("get", "/orgs/01900000-0000-7000-8000-000000000000", None),
    ],
)
async def test_errors_are_problems_with_security_headers(
    identity: httpx.AsyncClient, method: str, path: str, body: Any
) -> None:
    response = await identity.request(method, path, json=body)
    assert response.status_code in {401, 422}
    assert response.headers["content-type"].startswith("application/problem+json")
    for header in ("strict-transport-security", "x-content-type-options", "x-frame-options"):
        assert header in response.headers
    assert response.headers["cache-control"] == "no-store"
    assert "wrong" not in response.text  # no echo of the submitted password


async def test_jwks_is_public_and_cacheable(identity: httpx.AsyncClient) -> None:
    response = await identity.get("/.well-known/jwks.json")
    assert response.status_code == 200
    assert response.headers["cache-control"] == "public, max-age=60"
    keys = response.json()["keys"]
    assert keys
    assert all(k["kty"] == "OKP" and k["alg"] == "EdDSA" and "d" not in k for k in keys)


def operations(document: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    return {
        (path, method): {
            "operationId": op["operationId"],
            "success": sorted(code for code in op["responses"] if code.startswith("2")),
            "params": sorted((p["name"], p["in"]) for p in op.get("parameters", [])),
            "body": op.get("requestBody", {}).get("content", {}).get("application/json"),
        }
        for path, item in document["paths"].items()
        for method, op in item.items()
    }


async def test_the_served_openapi_matches_the_contract(
    identity: httpx.AsyncClient, repo_root
) -> None:
    served = (await identity.get("/openapi.json")).json()
    contract = yaml.safe_load((repo_root / "contracts/openapi/identity.yaml").read_text())
    assert operations(served) == operations(contract)
    for name in ("SignUpRequest", "AddMemberRequest", "TokenResponse", "MemberResponse"):
        assert served["components"]["schemas"][name] == _without_pii_marks(
            contract["components"]["schemas"][name]
        )


def _without_pii_marks(schema: Any) -> Any:
    # The contract's x-pii marks classify fields for docs/pii.md; the served schema has none.
    if isinstance(schema, dict):
        return {k: _without_pii_marks(v) for k, v in schema.items() if k != "x-pii"}
    return schema


async def test_members_are_paginated_with_a_cursor(identity: httpx.AsyncClient) -> None:
    owner = await sign_up(identity)
    org = owner["org_id"]
    for _ in range(2):
        person = await sign_up(identity)
        added = await identity.post(
            f"/orgs/{org}/members",
            json={"email": person["email"], "role": "member"},
            headers=bearer(owner) | {"Idempotency-Key": str(uuid.uuid4())},
        )
        assert added.status_code == 201, added.text
    first = await identity.get(f"/orgs/{org}/members?limit=2", headers=bearer(owner))
    assert first.status_code == 200, first.text
    assert len(first.json()["items"]) == 2
    cursor = first.json()["next_cursor"]
    rest = await identity.get(
        f"/orgs/{org}/members", params={"cursor": cursor}, headers=bearer(owner)
    )
    assert rest.status_code == 200
    assert rest.json()["next_cursor"] is None
    ids = [m["user_id"] for m in first.json()["items"] + rest.json()["items"]]
    assert ids == sorted(ids, key=uuid.UUID)
    assert len(set(ids)) == 3
    bad = await identity.get(
        f"/orgs/{org}/members", params={"cursor": "not-a-cursor"}, headers=bearer(owner)
    )
    assert bad.status_code == 422
    assert bad.json()["code"] == "validation.failed"
    too_many = await identity.get(f"/orgs/{org}/members?limit=101", headers=bearer(owner))
    assert too_many.status_code == 422


async def test_sign_up_with_a_key_is_idempotent_and_stores_no_token(
    identity: httpx.AsyncClient, identity_settings: IdentitySettings
) -> None:
    name = uuid.uuid4().hex[:10]
    body = {
        "email": f"{name}@example.com",
        "password": PASSWORD,
        "display_name": name,
        "org_name": f"{name} org",
    }
    key = {"Idempotency-Key": str(uuid.uuid4())}
    missing = await identity.post("/auth/signup", json=body)
    assert missing.status_code == 422
    first, second = await asyncio.gather(
        identity.post("/auth/signup", json=body, headers=key),
        identity.post("/auth/signup", json=body, headers=key),
    )
    statuses = sorted([first.status_code, second.status_code])
    assert statuses in ([201, 201], [201, 409]), (first.text, second.text)
    created = first if first.status_code == 201 else second
    assert created.headers["cache-control"] == "no-store"
    replay = await identity.post("/auth/signup", json=body, headers=key)
    assert replay.status_code == 201, replay.text
    assert replay.headers["idempotent-replayed"] == "true"
    assert replay.headers["cache-control"] == "no-store"
    assert replay.json()["user_id"] == created.json()["user_id"]
    assert replay.json()["refresh_token"] != created.json()["refresh_token"]
    wrong = await identity.post(
        "/auth/signup", json=body | {"password": "another password 1"}, headers=key
    )
    assert wrong.status_code == 422
    assert wrong.json()["code"] == "idempotency.key_reused"
    engine = create_async_engine(identity_settings.database.url())
    try:
        async with engine.connect() as conn:
            users = await conn.scalar(
                text("SELECT count(*) FROM users WHERE email = :e"), {"e": body["email"]}
            )
            stored = (
                await conn.execute(text("SELECT response_body::text FROM idempotency_keys"))
            ).all()
    finally:
        await engine.dispose()
    assert users == 1
    assert not any(created.json()["refresh_token"] in (row[0] or "") for row in stored)
    assert not any(PASSWORD in (row[0] or "") for row in stored)


async def test_add_member_with_a_key_replays_the_stored_response(
    identity: httpx.AsyncClient,
) -> None:
    owner = await sign_up(identity)
    person = await sign_up(identity)
    path = f"/orgs/{owner['org_id']}/members"
    body = {"email": person["email"], "role": "member"}
    key = bearer(owner) | {"Idempotency-Key": str(uuid.uuid4())}
    first = await identity.post(path, json=body, headers=key)
    assert first.status_code == 201, first.text
    assert "idempotent-replayed" not in first.headers
    again = await identity.post(path, json=body, headers=key)
    assert again.status_code == 201
    assert again.headers["idempotent-replayed"] == "true"
    assert again.json() == first.json()
    other = await identity.post(path, json=body | {"role": "viewer"}, headers=key)
    assert other.status_code == 422
    assert other.json()["code"] == "idempotency.key_reused"
    fresh = await identity.post(
        path, json=body, headers=bearer(owner) | {"Idempotency-Key": str(uuid.uuid4())}
    )
    assert fresh.status_code == 409
    assert fresh.json()["code"] == "member.already_exists"
