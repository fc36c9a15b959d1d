"""The API app of a service that owns a database and verifies identity's tokens itself.

Every such service (orders, payments, notifications, ...) wires the same pieces around its
routers: a JWKS client and verifier (its own ``httpx`` client, closed at shutdown), a readiness
check of its database, and the chassis' :func:`~shared.http.create_app`. Not re-exported by
``shared.http``: it needs ``shared.auth`` and ``shared.db``; import it from here.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from functools import partial

import httpx
from fastapi import APIRouter, FastAPI
from sqlalchemy.ext.asyncio import AsyncEngine

from shared.auth import AuthSettings, BearerAuth, KeySource, jwks_verifier
from shared.db import check_postgres
from shared.http.app import Closer, closing_lifespan, create_app
from shared.settings import ServiceSettings

__all__ = ["create_service_app"]


def create_service_app(
    settings: ServiceSettings,
    *,
    title: str,
    version: str,
    auth: AuthSettings,
    engine: AsyncEngine,
    routers: Callable[[BearerAuth], Iterable[APIRouter]],
    keys: KeySource | None = None,
    closers: Sequence[Closer] = (),
) -> FastAPI:
    """Build the service's app: its routers behind bearer tokens checked against identity's keys.

    Args:
        settings: the service's settings (readiness budget, HTTP conventions).
        title: the OpenAPI title.
        version: the service's version.
        auth: where identity's JWKS is and which tokens to accept.
        engine: the service's database; ``/health/ready`` checks it, shutdown disposes of it.
        routers: builds the service's routers from the bearer dependency.
        keys: replaces identity's JWKS (tests).
        closers: what else the app opened (doorbells, clients), closed at shutdown after the
            JWKS client and before the engine.
    """
    http = httpx.AsyncClient(timeout=auth.jwks_timeout_s)
    bearer = BearerAuth(jwks_verifier(auth, http, keys=keys))
    return create_app(
        title=title,
        version=version,
        settings=settings,
        readiness={"postgres": partial(check_postgres, engine)},
        lifespan=closing_lifespan(http.aclose, *closers, engine.dispose),
        routers=routers(bearer),
        readiness_timeout_s=settings.readiness_timeout_s,
    )
