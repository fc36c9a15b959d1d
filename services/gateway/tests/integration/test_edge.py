"""The /v1 edge against the real Redis, with identity (real database) behind it in-process.

Covers bearer and browser (cookie) modes, CSRF rejection, 429s with their headers, token
rejection at the edge, and headers on errors. Identity is built from its own package here only
because these are edge tests; services' source never imports each other.
"""

from __future__ import annotations

import base64
import hashlib
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from alembic import command
from alembic.config import Config
from asgi_lifespan import LifespanManager
from sqlalchemy.ext.asyncio import create_async_engine

from gateway.bootstrap import EdgeSettings, GatewaySettings, RateLimitSettings, build_app
from identity.bootstrap import IdentitySettings, PasswordSettings
from identity.bootstrap import build_app as build_identity
from shared.settings import DatabaseSettings

from .upstreams import AsgiTransport

pytestmark = pytest.mark.integration

IDENTITY = Path(__file__).resolve().parents[3] / "identity"
ORIGIN = "https://app.ordo.test"
PASSWORD = "edge password 12345"


@pytest.fixture(scope="session")
async def identity_app(ordo_database: DatabaseSettings) -> AsyncIterator[Any]:
    engine = create_async_engine(ordo_database.url())
    async with engine.begin() as conn:

        def upgrade(sync: Any) -> None:
            config = Config(str(IDENTITY / "alembic.ini"))
            config.set_main_option("script_location", str(IDENTITY / "migrations"))
            config.attributes["connection"] = sync
            command.upgrade(config, "head")

        await conn.run_sync(upgrade)
    await engine.dispose()
    settings = IdentitySettings(
        environment="test",
        database=ordo_database,
        # The worker's database may already hold keys sealed by identity's own tests: the
        # same per-database KEK (see identity's integration conftest) opens them.
        signing_kek=base64.b64encode(hashlib.sha256(ordo_database.name.encode()).digest()).decode(),
        passwords=PasswordSettings(time_cost=1, memory_cost_kib=1024, parallelism=1),
    )
    async with LifespanManager(build_identity(settings)) as manager:
        yield manager.app


def limits(prefix: str, **overrides: str) -> RateLimitSettings:
    values = {"signup": "50/minute", "login": "50/minute", "refresh": "50/minute"}
    return RateLimitSettings(key_prefix=prefix.rstrip(":"), **(values | overrides))


@pytest.fixture
def edge_settings(gateway_settings: GatewaySettings, redis_prefix: str) -> GatewaySettings:
    return gateway_settings.model_copy(
        update={
            "edge": EdgeSettings(allowed_origins=[ORIGIN]),
            "rate_limits": limits(redis_prefix),
        }
    )


async def edge_client(settings: GatewaySettings, identity_app: Any) -> httpx.AsyncClient:
    app = build_app(settings, transports={"identity": AsgiTransport(identity_app)})
    transport = httpx.ASGITransport(app=app, client=(f"10.0.{uuid.uuid4().int % 250}.1", 5000))
    return httpx.AsyncClient(transport=transport, base_url="https://gateway")


@pytest.fixture
async def edge(edge_settings: GatewaySettings, identity_app: Any):
    async with await edge_client(edge_settings, identity_app) as client:
        yield client


def signup_body() -> dict[str, str]:
    name = uuid.uuid4().hex[:10]
    return {
        "email": f"{name}@example.com",
        "password": PASSWORD,
        "display_name": name,
        "org_name": f"{name} org",
    }


async def test_bearer_mode_end_to_end(edge: httpx.AsyncClient) -> None:
    body, key = signup_body(), {"Idempotency-Key": str(uuid.uuid4())}
    signed = await edge.post("/v1/auth/signup", json=body, headers=key)
    assert signed.status_code == 201, signed.text
    assert "idempotent-replayed" not in signed.headers
    replayed = await edge.post("/v1/auth/signup", json=body, headers=key)
    assert replayed.status_code == 201, replayed.text
    assert replayed.headers["idempotent-replayed"] == "true"
    assert replayed.json()["user_id"] == signed.json()["user_id"]
    assert signed.headers["cache-control"] == "no-store"
    assert "set-cookie" not in signed.headers
    tokens = signed.json()
    auth = {"Authorization": f"Bearer {tokens['access_token']}"}
    me = await edge.get("/v1/me", headers=auth)
    assert me.status_code == 200
    assert me.json()["role"] == "owner"
    members = await edge.get(f"/v1/orgs/{tokens['org_id']}/members", headers=auth)
    assert members.status_code == 200
    assert len(members.json()["items"]) == 1
    elsewhere = await edge.get(f"/v1/orgs/{uuid.uuid4()}/members", headers=auth)
    assert elsewhere.status_code == 404
    refreshed = await edge.post("/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
    assert refreshed.status_code == 200
    reused = await edge.post("/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
    assert reused.status_code == 401
    assert reused.json()["code"] == "auth.refresh_token_reused"
    jwks = await edge.get("/v1/.well-known/jwks.json")
    assert jwks.status_code == 200
    assert jwks.headers["cache-control"] == "public, max-age=60"


async def test_browser_mode_keeps_the_refresh_token_in_a_strict_cookie(
    edge: httpx.AsyncClient,
) -> None:
    signed = await edge.post(
        "/v1/auth/signup",
        json=signup_body(),
        headers={"Auth-Mode": "cookie", "Origin": ORIGIN} | {"Idempotency-Key": str(uuid.uuid4())},
    )
    assert signed.status_code == 201, signed.text
    assert "refresh_token" not in signed.json()
    cookies = signed.headers.get_list("set-cookie")
    refresh = next(c for c in cookies if c.startswith("ordo_refresh="))
    for attribute in ("HttpOnly", "Secure", "SameSite=strict", "Path=/v1/auth"):
        assert attribute.lower() in refresh.lower()
    csrf_cookie = next(c for c in cookies if c.startswith("ordo_csrf="))
    assert "httponly" not in csrf_cookie.lower()
    csrf = edge.cookies["ordo_csrf"]

    missing_token = await edge.post("/v1/auth/refresh", headers={"Origin": ORIGIN})
    foreign_origin = await edge.post(
        "/v1/auth/refresh", headers={"Origin": "https://evil.test", "X-CSRF-Token": csrf}
    )
    for rejected in (missing_token, foreign_origin):
        assert rejected.status_code == 403
        assert rejected.json()["code"] == "csrf.rejected"
        assert rejected.headers["x-frame-options"] == "DENY"

    refreshed = await edge.post(
        "/v1/auth/refresh",
        headers={"Origin": ORIGIN, "X-CSRF-Token": csrf, "Auth-Mode": "cookie"},
    )
    assert refreshed.status_code == 200, refreshed.text
    assert "refresh_token" not in refreshed.json()
    assert any(c.startswith("ordo_refresh=") for c in refreshed.headers.get_list("set-cookie"))

    out = await edge.post(
        "/v1/auth/logout",
        headers={
            "Origin": ORIGIN,
            "X-CSRF-Token": edge.cookies["ordo_csrf"],
            "Auth-Mode": "cookie",
        },
    )
    assert out.status_code == 204
    assert "ordo_refresh" not in edge.cookies


async def test_browser_login_from_a_foreign_origin_is_refused(edge: httpx.AsyncClient) -> None:
    response = await edge.post(
        "/v1/auth/login",
        json={"email": "a@example.com", "password": "x"},
        headers={"Auth-Mode": "cookie", "Origin": "https://evil.test"},
    )
    assert response.status_code == 403
    assert response.json()["code"] == "csrf.rejected"


async def test_login_is_rate_limited_with_429_and_headers(
    edge_settings: GatewaySettings, identity_app: Any, redis_prefix: str
) -> None:
    settings = edge_settings.model_copy(
        update={"rate_limits": limits(redis_prefix, login="2/minute")}
    )
    async with await edge_client(settings, identity_app) as client:
        body = {"email": "nobody@example.com", "password": "wrong password"}
        answers = [await client.post("/v1/auth/login", json=body) for _ in range(3)]
    assert [a.status_code for a in answers] == [401, 401, 429]
    limited = answers[-1]
    assert limited.headers["content-type"].startswith("application/problem+json")
    assert limited.json()["code"] == "rate_limit.exceeded"
    assert int(limited.headers["retry-after"]) >= 1
    assert limited.headers["ratelimit-policy"] == '"login";q=2;w=60'
    assert limited.headers["ratelimit"].startswith('"login";r=0;t=')
    assert limited.headers["strict-transport-security"]
    assert answers[0].headers["ratelimit"].startswith('"login";r=1;')


async def test_each_user_has_a_limit_of_their_own(
    edge_settings: GatewaySettings, identity_app: Any, redis_prefix: str
) -> None:
    settings = edge_settings.model_copy(
        update={"rate_limits": limits(redis_prefix, per_user="3/minute")}
    )
    async with await edge_client(settings, identity_app) as client:
        signed = await client.post(
            "/v1/auth/signup", json=signup_body(), headers={"Idempotency-Key": str(uuid.uuid4())}
        )
        tokens = signed.json()
        auth = {"Authorization": f"Bearer {tokens['access_token']}"}
        statuses = [(await client.get("/v1/me", headers=auth)).status_code for _ in range(4)]
        anonymous = await client.get("/v1/.well-known/jwks.json")
    assert statuses == [200, 200, 200, 429]
    assert anonymous.status_code == 200


async def test_bad_tokens_are_refused_at_the_edge(edge: httpx.AsyncClient) -> None:
    forged = "eyJhbGciOiJub25lIiwidHlwIjoiYXQrand0Iiwia2lkIjoieCJ9.eyJzdWIiOiJ4In0."
    for headers in ({}, {"Authorization": f"Bearer {forged}"}, {"Authorization": "Basic x"}):
        response = await edge.get("/v1/me", headers=headers)
        assert response.status_code == 401
        assert response.headers["content-type"].startswith("application/problem+json")
        assert response.headers["x-content-type-options"] == "nosniff"


async def test_client_input_is_not_reflected_into_headers(edge: httpx.AsyncClient) -> None:
    response = await edge.post(
        "/v1/auth/login",
        json={"email": "a@example.com", "password": "x"},
        headers={"Auth-Mode": "evil-value", "X-Request-ID": "a b<script>"},
    )
    assert response.status_code == 422
    assert response.headers["x-request-id"] != "a b<script>"
    assert all("evil-value" not in value for value in response.headers.values())
    assert all("<script>" not in value for value in response.headers.values())
