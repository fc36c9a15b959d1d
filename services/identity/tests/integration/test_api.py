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
        assert served["components"]["schemas"][name] == contract["components"]["schemas"][name]
