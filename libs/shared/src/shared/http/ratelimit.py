"""Rate limits in Redis, per client IP and per user, with the IETF RateLimit header fields.

Built on the ``limits`` library (sliding-window counters in Redis, shared by every instance).
A :class:`RateLimitGuard` is a FastAPI dependency holding one or more :class:`RateLimitRule`:
each request spends one hit of every rule; when one is exhausted it raises
:class:`~shared.errors.RateLimitedError`, which the problem handlers turn into a 429 with
``Retry-After``. :class:`RateLimitHeadersMiddleware` adds ``RateLimit-Policy`` and ``RateLimit``
(draft-ietf-httpapi-ratelimit-headers) to the response, the 429 included::

    RateLimit-Policy: "login";q=10;w=60
    RateLimit: "login";r=0;t=42

Header values are built only from rule names (set by the service) and numbers: nothing the
client sent is reflected.
"""

from __future__ import annotations

import math
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Literal

import structlog
from limits import RateLimitItem, parse
from limits.aio.storage import RedisStorage
from limits.aio.strategies import SlidingWindowCounterRateLimiter
from redis.asyncio import Redis
from starlette.datastructures import MutableHeaders
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared.errors import DependencyUnavailableError, RateLimitedError

__all__ = [
    "RateLimitDecision",
    "RateLimitGuard",
    "RateLimitHeadersMiddleware",
    "RateLimitRule",
    "RedisRateLimiter",
    "client_ip",
]

log = structlog.get_logger(__name__)
# Kept in the ASGI scope itself, not in scope["state"]: some hosts (asgi-lifespan) share one
# state dict across requests, and a decision must never leak to another request.
_SCOPE_KEY = "ordo.rate_limit"


@dataclass(frozen=True, slots=True)
class RateLimitRule:
    """One limit: ``limit`` in ``limits`` notation (``"10/minute"``) per client IP or per user.

    Args:
        name: a short, stable token (``"login"``); shown in headers and used in Redis keys.
        limit: e.g. ``"10/minute"``, ``"300 per 1 minute"``.
        per: ``"ip"`` or ``"user"`` (a per-user rule is skipped for anonymous requests).
        fail_open: when Redis fails, let the request through (True) or answer 503 (False).
    """

    name: str
    limit: str
    per: Literal["ip", "user"] = "ip"
    fail_open: bool = False

    def item(self) -> RateLimitItem:
        """The parsed ``limits`` item."""
        return parse(self.limit)


@dataclass(frozen=True, slots=True)
class RateLimitDecision:
    """The outcome of one hit: allowed or not, and the numbers the headers report."""

    rule: str
    allowed: bool
    quota: int
    window_s: int
    remaining: int
    reset_after_s: int


class RedisRateLimiter:
    """Counts hits in Redis with ``limits``' sliding-window counter.

    Args:
        redis: the service's client; its connection pool is shared, not duplicated.
        key_prefix: namespace of the counters (tests use a unique one).
    """

    def __init__(self, redis: Redis, *, key_prefix: str = "ordo:ratelimit") -> None:
        storage = RedisStorage(
            "async+redis://localhost:6379",  # unused: the shared pool decides
            implementation="redispy",
            key_prefix=key_prefix,
            wrap_exceptions=True,
            connection_pool=redis.connection_pool,  # type: ignore[arg-type]
        )
        self._strategy = SlidingWindowCounterRateLimiter(storage)

    async def hit(self, rule: RateLimitRule, identity: str, *, now: float) -> RateLimitDecision:
        """Spend one hit of ``rule`` for ``identity``; ``now`` is epoch seconds (as ``limits``)."""
        item = rule.item()
        allowed = await self._strategy.hit(item, rule.name, identity)
        stats = await self._strategy.get_window_stats(item, rule.name, identity)
        return RateLimitDecision(
            rule=rule.name,
            allowed=allowed,
            quota=item.amount,
            window_s=item.get_expiry(),
            remaining=max(0, stats.remaining),
            reset_after_s=max(1, math.ceil(stats.reset_time - now)),
        )

    async def clear(self, rule: RateLimitRule, identity: str) -> None:
        """Forget the counter of ``rule`` for ``identity``."""
        await self._strategy.clear(rule.item(), rule.name, identity)


def client_ip(request: Request, *, trusted_proxy_hops: int = 0) -> str:
    """Return the client's IP: the peer, or the ``X-Forwarded-For`` entry added by our proxies.

    Only the last ``trusted_proxy_hops`` entries were written by proxies we run; anything
    further left was sent by the client and is never trusted.
    """
    peer = request.client.host if request.client else "unknown"
    if trusted_proxy_hops <= 0:
        return peer
    forwarded = [p.strip() for p in request.headers.get("x-forwarded-for", "").split(",")]
    forwarded = [p for p in forwarded if p]
    if len(forwarded) >= trusted_proxy_hops:
        return forwarded[-trusted_proxy_hops]
    return peer


UserOf = Callable[[Request], Awaitable[str | None]]


class RateLimitGuard:
    """A FastAPI dependency spending one hit of each rule; raises 429 when one is exhausted.

    Args:
        limiter: the shared counter store.
        rules: the rules this route group spends.
        user_of: returns the caller's user id (or None when anonymous) for per-user rules.
        trusted_proxy_hops: see :func:`client_ip`.
        wall_clock: seconds since the epoch.
    """

    def __init__(
        self,
        limiter: RedisRateLimiter,
        rules: Sequence[RateLimitRule],
        *,
        user_of: UserOf | None = None,
        trusted_proxy_hops: int = 0,
        wall_clock: Callable[[], float] | None = None,
    ) -> None:
        self._limiter = limiter
        self._rules = tuple(rules)
        self._user_of = user_of
        self._hops = trusted_proxy_hops
        self._clock = wall_clock or time.time

    async def __call__(self, request: Request) -> None:
        """Spend the hits; record the tightest decision for the headers; raise on exhaustion."""
        decisions: list[RateLimitDecision] = []
        user: str | None = None
        if self._user_of is not None and any(r.per == "user" for r in self._rules):
            user = await self._user_of(request)
        for rule in self._rules:
            identity = client_ip(request, trusted_proxy_hops=self._hops)
            if rule.per == "user":
                if user is None:
                    continue
                identity = user
            decision = await self._hit(rule, identity)
            if decision is not None:
                decisions.append(decision)
        if not decisions:
            return
        denied = [d for d in decisions if not d.allowed]
        tightest = (
            max(denied, key=lambda d: d.reset_after_s)
            if denied
            else min(decisions, key=lambda d: (d.remaining / max(d.quota, 1), d.remaining))
        )
        request.scope[_SCOPE_KEY] = tightest
        if denied:
            raise RateLimitedError(retry_after=tightest.reset_after_s)

    async def _hit(self, rule: RateLimitRule, identity: str) -> RateLimitDecision | None:
        try:
            return await self._limiter.hit(rule, identity, now=self._clock())
        except Exception as exc:
            log.warning("rate_limit_unavailable", rule=rule.name, error=type(exc).__name__)
            if rule.fail_open:
                return None
            raise DependencyUnavailableError("Rate limiting is unavailable.") from exc


class RateLimitHeadersMiddleware:
    """Pure ASGI middleware writing the RateLimit header fields of the request's decision."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Run the app; add the headers when a guard recorded a decision."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_wrapper(message: Message) -> None:
            decision = scope.get(_SCOPE_KEY)
            if message["type"] == "http.response.start" and isinstance(decision, RateLimitDecision):
                message["headers"] = list(message.get("headers", []))
                headers = MutableHeaders(scope=message)
                name = decision.rule
                headers["RateLimit-Policy"] = f'"{name}";q={decision.quota};w={decision.window_s}'
                headers["RateLimit"] = f'"{name}";r={decision.remaining};t={decision.reset_after_s}'
                if not decision.allowed:
                    headers.setdefault("Retry-After", str(decision.reset_after_s))
            await send(message)

        await self.app(scope, receive, send_wrapper)
