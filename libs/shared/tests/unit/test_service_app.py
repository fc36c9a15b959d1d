"""create_service_app: a service's routers behind identity's tokens, its database checked and
what it opened closed at shutdown.

(No ``from __future__ import annotations``: FastAPI must resolve the local ``Caller`` alias.)
"""

import uuid
from collections.abc import Callable
from typing import Annotated

import httpx
from fastapi import APIRouter, Depends, FastAPI
from sqlalchemy.ext.asyncio import create_async_engine

from shared.auth import AuthSettings, BearerAuth, Principal
from shared.http.service import create_service_app
from shared.settings import ServiceSettings
from shared.testing.tokens import TokenIssuer


def router_of(bearer: BearerAuth) -> list[APIRouter]:
    router = APIRouter()
    Caller = Annotated[Principal, Depends(bearer)]

    @router.get("/whoami")
    async def whoami(principal: Caller) -> dict[str, str]:
        return {"org_id": str(principal.org_id)}

    return [router]


async def test_routes_take_identity_tokens_the_database_is_checked_and_closers_run(
    settings: ServiceSettings, client_for: Callable[[FastAPI], httpx.AsyncClient]
) -> None:
    issuer = TokenIssuer()
    auth = AuthSettings(issuer=issuer.issuer, audience=issuer.audience)
    engine = create_async_engine("postgresql+asyncpg://nobody@127.0.0.1:1/none")
    closed: list[str] = []

    async def close_doorbell() -> None:
        closed.append("doorbell")

    app = create_service_app(
        settings,
        title="Unit",
        version="0.0.0",
        auth=auth,
        engine=engine,
        routers=router_of,
        keys=issuer.keys,
        closers=[close_doorbell],
    )
    org = uuid.uuid4()
    async with app.router.lifespan_context(app), client_for(app) as http:
        anonymous = await http.get("/whoami")
        signed = await http.get(
            "/whoami", headers={"Authorization": f"Bearer {issuer.token(org, 'member')}"}
        )
        ready = await http.get("/health/ready")
    assert anonymous.status_code == 401
    assert anonymous.headers["content-type"].startswith("application/problem+json")
    assert (signed.status_code, signed.json()) == (200, {"org_id": str(org)})
    assert ready.status_code == 503  # the database check is wired (and nothing listens there)
    assert "postgres" in ready.text
    assert closed == ["doorbell"]
