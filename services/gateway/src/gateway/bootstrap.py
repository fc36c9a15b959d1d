"""Composition root of the gateway: the only module that reads settings and wires adapters.

The gateway serves its health endpoints and the public /v1 edge of identity's operations
(rate limits in Redis, browser and bearer modes, CSRF); the order slice adds its own routes.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import partial
from importlib.metadata import version

import httpx
from fastapi import FastAPI
from pydantic import BaseModel, Field
from starlette.requests import Request

from gateway.adapters.http.edge import EdgeGuards, build_edge_router
from gateway.adapters.http.sessions import REFRESH_COOKIE
from gateway.adapters.identity import IdentityClient
from shared.auth import JwksKeySource, TokenVerifier, http_jwks
from shared.auth.dependencies import BearerAuth
from shared.caching import check_redis, create_redis
from shared.db import check_postgres, create_engine
from shared.errors import UnauthenticatedError
from shared.http import create_app
from shared.http.csrf import CsrfProtection
from shared.http.ratelimit import (
    RateLimitGuard,
    RateLimitHeadersMiddleware,
    RateLimitRule,
    RedisRateLimiter,
)
from shared.messaging import KafkaProbe
from shared.resilience import AsyncCircuitBreaker
from shared.settings import ServiceSettings


class RateLimitSettings(BaseModel):
    """Limits in ``limits`` notation; auth policies are per IP and fail closed."""

    signup: str = "5/10 minutes"
    login: str = "10/minute"
    refresh: str = "30/minute"
    per_ip: str = "600/minute"
    per_user: str = "300/minute"
    key_prefix: str = "ordo:gateway:ratelimit"


class EdgeSettings(BaseModel):
    """Where identity is, what tokens to accept, and the browser-mode policy."""

    identity_url: str = "http://127.0.0.1:8001"
    identity_timeout_s: float = Field(default=3.0, gt=0)
    issuer: str = "https://identity.ordo.local"
    audience: str = "ordo-api"
    leeway_s: float = Field(default=30.0, ge=0, le=60)
    allowed_origins: list[str] = ["http://localhost:5173", "http://127.0.0.1:8000"]
    cookie_secure: bool = True
    refresh_cookie_max_age_s: int = 30 * 24 * 3600
    trusted_proxy_hops: int = Field(default=0, ge=0)


class GatewaySettings(ServiceSettings):
    """Gateway settings; defaults match the local stack started by ``make up``."""

    service_name: str = "gateway"
    http_port: int = 8000
    edge: EdgeSettings = EdgeSettings()
    rate_limits: RateLimitSettings = RateLimitSettings()


def _guards(settings: GatewaySettings, limiter: RedisRateLimiter, auth: BearerAuth) -> EdgeGuards:
    limits, edge = settings.rate_limits, settings.edge

    async def user_of(request: Request) -> str | None:
        try:
            principal = await auth.optional(request)
        except UnauthenticatedError:
            return None  # the route's own authentication answers 401
        return str(principal.user_id) if principal is not None else None

    def guard(*rules: RateLimitRule) -> RateLimitGuard:
        return RateLimitGuard(
            limiter, rules, user_of=user_of, trusted_proxy_hops=edge.trusted_proxy_hops
        )

    return EdgeGuards(
        auth=auth,
        csrf=CsrfProtection(allowed_origins=edge.allowed_origins, session_cookies=[REFRESH_COOKIE]),
        general=guard(
            RateLimitRule("ip", limits.per_ip, fail_open=True),
            RateLimitRule("user", limits.per_user, per="user", fail_open=True),
        ),
        signup=guard(RateLimitRule("signup", limits.signup)),
        login=guard(RateLimitRule("login", limits.login)),
        refresh=guard(RateLimitRule("refresh", limits.refresh)),
        cookie_max_age_s=edge.refresh_cookie_max_age_s,
        cookie_secure=edge.cookie_secure,
    )


def build_app(
    settings: GatewaySettings, *, identity_transport: httpx.AsyncBaseTransport | None = None
) -> FastAPI:
    """Wire the gateway's dependencies into a FastAPI app (nothing connects until first use).

    ``identity_transport`` replaces the network to identity (tests pass identity's ASGI app).
    """
    engine = create_engine(settings.database, application_name=settings.service_name)
    redis = create_redis(settings.redis)
    kafka = KafkaProbe(settings.kafka)
    edge = settings.edge
    http = httpx.AsyncClient(
        base_url=edge.identity_url,
        transport=identity_transport,
        timeout=edge.identity_timeout_s,
    )
    identity = IdentityClient(
        http,
        timeout_s=edge.identity_timeout_s,
        breaker=AsyncCircuitBreaker("identity", fail_max=5, reset_timeout_s=10.0),
    )
    keys = JwksKeySource(http_jwks("/.well-known/jwks.json", http))
    verifier = TokenVerifier(
        keys,
        issuer=edge.issuer,
        audience=edge.audience,
        leeway_s=edge.leeway_s,
    )
    limiter = RedisRateLimiter(redis, key_prefix=settings.rate_limits.key_prefix)
    guards = _guards(settings, limiter, BearerAuth(verifier))

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        try:
            yield
        finally:
            await http.aclose()
            await kafka.close()
            await redis.aclose()
            await engine.dispose()

    app = create_app(
        title="Ordo gateway",
        version=version("ordo-gateway"),
        settings=settings,
        readiness={
            "postgres": partial(check_postgres, engine),
            "kafka": kafka,
            "redis": partial(check_redis, redis),
        },
        lifespan=lifespan,
        routers=[build_edge_router(identity, guards)],
        readiness_timeout_s=settings.readiness_timeout_s,
    )
    # Outermost: the RateLimit headers land on every response, the 429 and other errors too.
    app.add_middleware(RateLimitHeadersMiddleware)
    return app
