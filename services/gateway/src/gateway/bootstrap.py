"""Composition root of the gateway: the only module that reads settings and wires adapters.

The gateway serves its health endpoints and the public /v1 API of contracts/openapi/
gateway.v1.yaml: identity's operations (rate limits in Redis, browser and bearer modes, CSRF)
and the commerce operations, forwarded to catalog, orders, payments and notifications, each
behind its own admission control (an adaptive concurrency limit), timeout, circuit breaker and
retry policy. The OpenAPI document it serves
(``/v1/openapi.json`` and ``/openapi.json``) is rendered from the mounted routes' validators.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from functools import partial
from importlib.metadata import version
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from pydantic import BaseModel, Field, model_validator
from starlette.requests import Request

from gateway.adapters.admission import Admission, track_admissions
from gateway.adapters.http.auth import OncePerRequestAuth
from gateway.adapters.http.commerce import build_commerce_router
from gateway.adapters.http.docs import build_docs_router, find_docs, load_docs
from gateway.adapters.http.edge import EdgeGuards, build_edge_router
from gateway.adapters.http.proxy import install_upstream_problems, openapi_router
from gateway.adapters.http.sessions import REFRESH_COOKIE
from gateway.adapters.openapi import Contract, find_contract, served_document
from gateway.adapters.transport import AiohttpTransport, Transport
from gateway.adapters.upstream import UpstreamClient, UpstreamRequest, is_refusal
from gateway.domain.admission import LimitPolicy
from shared.auth import JwksFetcher, JwksKeySource, TokenVerifier
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
from shared.observability import Metrics, default_metrics
from shared.resilience import AsyncCircuitBreaker, RetryPolicy
from shared.settings import ServiceSettings

# Fixed local ports of the services behind the gateway (infra/Procfile).
UPSTREAM_PORTS: Mapping[str, int] = {
    "identity": 8001,
    "catalog": 8002,
    "orders": 8003,
    "payments": 8004,
    "notifications": 8005,
}


class RateLimitSettings(BaseModel):
    """Limits in ``limits`` notation; auth policies are per IP and fail closed."""

    signup: str = "5/10 minutes"
    login: str = "10/minute"
    refresh: str = "30/minute"
    per_ip: str = "600/minute"
    per_user: str = "300/minute"
    key_prefix: str = "ordo:gateway:ratelimit"


class EdgeSettings(BaseModel):
    """What tokens to accept, and the browser-mode policy."""

    issuer: str = "https://identity.ordo.local"
    audience: str = "ordo-api"
    leeway_s: float = Field(default=30.0, ge=0, le=60)
    allowed_origins: list[str] = ["http://localhost:5173", "http://127.0.0.1:8000"]
    cookie_secure: bool = True
    refresh_cookie_max_age_s: int = 30 * 24 * 3600
    trusted_proxy_hops: int = Field(default=0, ge=0)


class UpstreamSettings(BaseModel):
    """One service behind the gateway: where it is and how hard to try it.

    ``url`` defaults to the service's local port (:data:`UPSTREAM_PORTS`).
    """

    url: str = ""
    timeout_s: float = Field(default=3.0, gt=0, le=60)
    connect_timeout_s: float = Field(default=1.0, gt=0, le=60)
    breaker_fail_max: int = Field(default=5, ge=1)
    breaker_reset_s: float = Field(default=10.0, gt=0)
    retry_attempts: int = Field(default=3, ge=1, le=10)
    retry_initial_delay_s: float = Field(default=0.05, ge=0)
    retry_max_delay_s: float = Field(default=0.5, ge=0)
    retry_after_s: int = Field(default=1, ge=1, le=3600)
    max_connections: int = Field(default=100, ge=1)
    keepalive_s: float = Field(default=30.0, gt=0)


class AdmissionSettings(BaseModel):
    """Admission control: an adaptive concurrency limit per upstream (gateway.domain.admission).

    ``ORDO_ADMISSION__ENABLED=false`` turns it off; ``queue_size`` calls may wait up to
    ``max_wait_s`` for a slot (0: refuse at once); a refusal is a 503 with ``retry_after_s``.
    """

    enabled: bool = True
    initial_limit: int = Field(default=20, ge=1)
    min_limit: int = Field(default=4, ge=1)
    max_limit: int = Field(default=200, ge=1)
    smoothing: float = Field(default=0.2, gt=0, le=1)
    tolerance: float = Field(default=1.5, ge=1)
    headroom: int = Field(default=4, ge=0)
    window_min_s: float = Field(default=0.1, gt=0)
    window_max_s: float = Field(default=1.0, gt=0)
    queue_size: int = Field(default=8, ge=0)
    max_wait_s: float = Field(default=0.02, ge=0, le=1)
    retry_after_s: int = Field(default=1, ge=1, le=3600)

    @model_validator(mode="after")
    def _bounded(self) -> AdmissionSettings:
        self.policy()  # raises ValueError on inconsistent bounds
        return self

    def policy(self) -> LimitPolicy:
        """The limit's policy."""
        return LimitPolicy(
            initial_limit=self.initial_limit,
            min_limit=self.min_limit,
            max_limit=self.max_limit,
            smoothing=self.smoothing,
            tolerance=self.tolerance,
            headroom=self.headroom,
            window_min_s=self.window_min_s,
            window_max_s=max(self.window_min_s, self.window_max_s),
        )


class UpstreamsSettings(BaseModel):
    """The services the gateway forwards to (``ORDO_UPSTREAMS__CATALOG__TIMEOUT_S=5``)."""

    identity: UpstreamSettings = Field(default_factory=UpstreamSettings)
    catalog: UpstreamSettings = Field(default_factory=UpstreamSettings)
    orders: UpstreamSettings = Field(default_factory=UpstreamSettings)
    payments: UpstreamSettings = Field(default_factory=UpstreamSettings)
    notifications: UpstreamSettings = Field(default_factory=UpstreamSettings)

    @model_validator(mode="after")
    def _local_urls(self) -> UpstreamsSettings:
        for name, port in UPSTREAM_PORTS.items():
            upstream: UpstreamSettings = getattr(self, name)
            if not upstream.url:
                setattr(self, name, upstream.model_copy(update={"url": f"http://127.0.0.1:{port}"}))
        return self

    def items(self) -> list[tuple[str, UpstreamSettings]]:
        """(name, settings) of every upstream."""
        return [(name, getattr(self, name)) for name in UPSTREAM_PORTS]


class GatewaySettings(ServiceSettings):
    """Gateway settings; defaults match the local stack started by ``make up``.

    ``contract_path`` is the public contract the gateway enforces and serves; by default
    contracts/openapi/gateway.v1.yaml of the checkout the package runs from.
    """

    service_name: str = "gateway"
    http_port: int = 8000
    edge: EdgeSettings = EdgeSettings()
    rate_limits: RateLimitSettings = RateLimitSettings()
    upstreams: UpstreamsSettings = Field(default_factory=UpstreamsSettings)
    admission: AdmissionSettings = AdmissionSettings()
    contract_path: Path | None = None
    # The docs served under /docs (tools/docs: the built site and Swagger UI's npm package).
    docs_path: Path | None = None


def _guards(settings: GatewaySettings, limiter: RedisRateLimiter, auth: BearerAuth) -> EdgeGuards:
    limits, edge = settings.rate_limits, settings.edge

    async def user_of(request: Request) -> str | None:
        try:
            principal = await auth.optional(request)
        except UnauthenticatedError:
            return None  # the route's own authentication answers 401
        return str(principal.user_id) if principal is not None else None

    general = (
        RateLimitRule("ip", limits.per_ip, fail_open=True),
        RateLimitRule("user", limits.per_user, per="user", fail_open=True),
    )

    def guard(*rules: RateLimitRule) -> RateLimitGuard:
        # The general rules ride along: one guard, so one Redis round trip, per request.
        return RateLimitGuard(
            limiter, general + rules, user_of=user_of, trusted_proxy_hops=edge.trusted_proxy_hops
        )

    return EdgeGuards(
        auth=auth,
        csrf=CsrfProtection(allowed_origins=edge.allowed_origins, session_cookies=[REFRESH_COOKIE]),
        general=guard(),
        signup=guard(RateLimitRule("signup", limits.signup)),
        login=guard(RateLimitRule("login", limits.login)),
        refresh=guard(RateLimitRule("refresh", limits.refresh)),
        cookie_max_age_s=edge.refresh_cookie_max_age_s,
        cookie_secure=edge.cookie_secure,
    )


def _upstream(
    name: str,
    settings: UpstreamSettings,
    admission: AdmissionSettings,
    transport: Transport | None,
    metrics: Metrics | None,
) -> UpstreamClient:
    # The socket read deadline sits past the call's budget: with_timeout decides.
    wire = transport or AiohttpTransport(
        settings.url,
        connect_timeout_s=min(settings.connect_timeout_s, settings.timeout_s),
        read_timeout_s=settings.timeout_s + 1.0,
        max_connections=settings.max_connections,
        keepalive_s=settings.keepalive_s,
    )
    return UpstreamClient(
        name,
        wire,
        timeout_s=settings.timeout_s,
        breaker=AsyncCircuitBreaker(
            name,
            fail_max=settings.breaker_fail_max,
            reset_timeout_s=settings.breaker_reset_s,
            exclude=[is_refusal],
            metrics=metrics,
        ),
        retry=RetryPolicy(
            attempts=settings.retry_attempts,
            initial_delay_s=settings.retry_initial_delay_s,
            max_delay_s=settings.retry_max_delay_s,
        ),
        retry_after_s=settings.retry_after_s,
        admission=(
            Admission(
                name,
                admission.policy(),
                queue_size=admission.queue_size,
                max_wait_s=admission.max_wait_s,
                retry_after_s=admission.retry_after_s,
            )
            if admission.enabled
            else None
        ),
    )


def _jwks(identity: UpstreamClient) -> JwksFetcher:
    """Identity's JWKS, fetched through its upstream client (deadline, breaker, retries)."""
    request = UpstreamRequest("GET", "/.well-known/jwks.json", idempotent=True)

    async def fetch() -> Mapping[str, Any]:
        answer = await identity.send(request)
        document = answer.json() if answer.status == 200 else None
        if not isinstance(document, dict):
            raise ValueError(f"no JWKS document (status {answer.status})")
        return document

    return fetch


def load_contract(settings: GatewaySettings) -> Contract:
    """The public contract named by the settings (or found above this package)."""
    path = settings.contract_path or find_contract(Path(__file__).resolve().parent)
    return Contract.load(path)


def build_app(
    settings: GatewaySettings,
    *,
    transports: Mapping[str, Transport] | None = None,
    metrics: Metrics | None = None,
    contract: Contract | None = None,
) -> FastAPI:
    """Wire the gateway's dependencies into a FastAPI app (nothing connects until first use).

    Args:
        settings: the gateway's settings.
        transports: replace the network to some upstreams, by name (tests pass ASGI apps).
        metrics: where HTTP and breaker metrics go; the process default if None.
        contract: the parsed public contract; loaded from ``settings`` if None.
    """
    contract = contract if contract is not None else load_contract(settings)
    engine = create_engine(settings.database, application_name=settings.service_name)
    redis = create_redis(settings.redis)
    kafka = KafkaProbe(settings.kafka)
    routes = transports or {}
    upstreams = {
        name: _upstream(name, upstream, settings.admission, routes.get(name), metrics)
        for name, upstream in settings.upstreams.items()
    }
    track_admissions(
        (metrics or default_metrics()).registry,
        {name: c.admission for name, c in upstreams.items() if c.admission is not None},
    )
    edge = settings.edge
    keys = JwksKeySource(_jwks(upstreams["identity"]))
    verifier = TokenVerifier(
        keys,
        issuer=edge.issuer,
        audience=edge.audience,
        leeway_s=edge.leeway_s,
    )
    limiter = RedisRateLimiter(redis, key_prefix=settings.rate_limits.key_prefix)
    guards = _guards(settings, limiter, OncePerRequestAuth(verifier))

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        try:
            yield
        finally:
            for upstream in upstreams.values():
                await upstream.transport.aclose()
            await kafka.close()
            await redis.aclose()
            await engine.dispose()

    document: dict[str, Any] = {}

    def openapi() -> dict[str, Any]:
        if not document:
            document.update(served_document(contract, app.routes))
        return document

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
        routers=[
            build_edge_router(contract, upstreams["identity"], guards),
            build_commerce_router(contract, upstreams, guards),
            openapi_router(openapi),
            build_docs_router(
                load_docs(settings.docs_path or find_docs(Path(__file__).resolve().parent))
            ),
        ],
        metrics=metrics,
        readiness_timeout_s=settings.readiness_timeout_s,
        # Each route's RequestValidator refuses unstorable text itself, by the contract's
        # parameter names and after authentication and rate limits (the chassis' guard would
        # run first, and refuse undeclared query parameters the gateway never forwards).
        text_guard=False,
    )
    app.openapi = openapi  # type: ignore[method-assign]
    install_upstream_problems(app)
    # Outermost: the RateLimit headers land on every response, the 429 and other errors too.
    app.add_middleware(RateLimitHeadersMiddleware)
    return app
