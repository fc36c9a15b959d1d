"""Rate limits in Redis, per client IP and per user, with the IETF RateLimit header fields.

Sliding-window counters in Redis, shared by every instance: the ``limits`` library's algorithm
(two fixed windows, the previous one weighted by how much of it still overlaps the sliding
window), run for all the rules of a request in ONE Lua script, so a limited request costs one
Redis round trip (EVALSHA) whatever its number of rules (``limits`` itself needs two per rule:
the hit, then the window's stats for the headers).
A :class:`RateLimitGuard` is a FastAPI dependency holding one or more :class:`RateLimitRule`:
each request spends one hit of every rule; when one is exhausted it raises
:class:`~shared.errors.RateLimitedError`, which the problem handlers turn into a 429 with
``Retry-After``. :class:`RateLimitHeadersMiddleware` adds ``RateLimit-Policy`` and ``RateLimit``
(draft-ietf-httpapi-ratelimit-headers) to the response, the 429 included::

    RateLimit-Policy: "login";q=10;w=60
    RateLimit: "login";r=0;t=42

Header values are built only from rule names (set by the service) and numbers: nothing the
client sent is reflected.

The script touches the keys of several identities (an IP, a user) in one call: on a Redis
Cluster they would need a common hash tag; Ordo runs one Redis node (or Sentinel).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import structlog
from limits import RateLimitItem, parse
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
        return _parse(self.limit)


@functools.lru_cache(maxsize=256)
def _parse(limit: str) -> RateLimitItem:
    return parse(limit)


@dataclass(frozen=True, slots=True)
class RateLimitDecision:
    """The outcome of one hit: allowed or not, and the numbers the headers report."""

    rule: str
    allowed: bool
    quota: int
    window_s: int
    remaining: int
    reset_after_s: int


# Per rule i: KEYS[2i-1] the previous window's counter, KEYS[2i] the current one; ARGV[2i-1] the
# quota, ARGV[2i] the window in ms. The current counter lives two windows; once less than one
# window of its life is left, its window has ended and it becomes the previous one (as in
# ``limits``). Returns, per rule: allowed (1/0), previous count and ms left, current count and
# ms left, after the hit.
_SLIDING_WINDOW_HITS = """
local out = {}
for i = 1, #KEYS / 2 do
  local prev_key, cur_key = KEYS[2 * i - 1], KEYS[2 * i]
  local quota = tonumber(ARGV[2 * i - 1])
  local window = tonumber(ARGV[2 * i])
  local cur_ttl = redis.call('pttl', cur_key)
  if cur_ttl > 0 and cur_ttl < window then
    redis.call('rename', cur_key, prev_key)
    redis.call('set', cur_key, 0, 'PX', cur_ttl + window)
  end
  local prev_count = tonumber(redis.call('get', prev_key)) or 0
  local prev_ttl = math.max(redis.call('pttl', prev_key), 0)
  local cur_count = tonumber(redis.call('get', cur_key)) or 0
  cur_ttl = math.max(redis.call('pttl', cur_key), 0)
  local allowed = 0
  if math.floor(prev_count * prev_ttl / window) + cur_count + 1 <= quota then
    allowed = 1
    if redis.call('exists', cur_key) == 1 then
      cur_count = redis.call('incrby', cur_key, 1)
    else
      redis.call('set', cur_key, 1, 'PX', window * 2)
      cur_count, cur_ttl = 1, window * 2
    end
  end
  table.insert(out, allowed)
  table.insert(out, prev_count)
  table.insert(out, prev_ttl)
  table.insert(out, cur_count)
  table.insert(out, cur_ttl)
end
return out
"""


class RedisRateLimiter:
    """Counts hits in Redis: sliding-window counters, every rule of a request in one script.

    Args:
        redis: the service's client; its connection pool is shared, not duplicated.
        key_prefix: namespace of the counters (tests use a unique one).
    """

    def __init__(self, redis: Redis, *, key_prefix: str = "ordo:ratelimit") -> None:
        self._redis = redis
        self._prefix = key_prefix
        self._script = redis.register_script(_SLIDING_WINDOW_HITS)

    async def hit(self, rule: RateLimitRule, identity: str) -> RateLimitDecision:
        """Spend one hit of ``rule`` for ``identity``."""
        [decision] = await self.hit_all([(rule, identity)])
        return decision

    async def hit_all(self, hits: Sequence[tuple[RateLimitRule, str]]) -> list[RateLimitDecision]:
        """Spend one hit of each (rule, identity), in one round trip; one decision each."""
        keys: list[str] = []
        args: list[int] = []
        for rule, identity in hits:
            item = rule.item()
            keys.extend(self._keys(rule, item, identity))
            args.extend((item.amount, item.get_expiry() * 1000))
        raw: list[Any] = await self._script(keys=keys, args=args)
        return [_decision(rule, raw[5 * i : 5 * i + 5]) for i, (rule, _identity) in enumerate(hits)]

    async def clear(self, rule: RateLimitRule, identity: str) -> None:
        """Forget the counter of ``rule`` for ``identity``."""
        await self._redis.delete(*self._keys(rule, rule.item(), identity))

    def _keys(self, rule: RateLimitRule, item: RateLimitItem, identity: str) -> tuple[str, str]:
        base = f"{self._prefix}:{rule.name}/{item.amount}/{item.get_expiry()}/{identity}"
        return f"{base}/previous", f"{base}/current"


def _decision(rule: RateLimitRule, values: Sequence[Any]) -> RateLimitDecision:
    """The decision and header numbers, computed as ``limits``' window stats are."""
    allowed, previous, previous_ms, current, current_ms = (int(v) for v in values)
    item = rule.item()
    window_s = item.get_expiry()
    previous_left_s, current_left_s = previous_ms / 1000, current_ms / 1000
    weighted = previous * previous_left_s / window_s + current
    reset_in = 0.0
    if previous or current:
        reset_in = math.inf
        if previous:
            reset_in = previous_left_s % (window_s / previous)
        if current:
            reset_in = min(reset_in, current_left_s % window_s)
    return RateLimitDecision(
        rule=rule.name,
        allowed=bool(allowed),
        quota=item.amount,
        window_s=window_s,
        remaining=max(0, item.amount - math.floor(weighted)),
        reset_after_s=max(1, math.ceil(reset_in)),
    )


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
    """

    def __init__(
        self,
        limiter: RedisRateLimiter,
        rules: Sequence[RateLimitRule],
        *,
        user_of: UserOf | None = None,
        trusted_proxy_hops: int = 0,
    ) -> None:
        self._limiter = limiter
        self._rules = tuple(rules)
        self._user_of = user_of
        self._per_user = any(rule.per == "user" for rule in self._rules)
        self._hops = trusted_proxy_hops

    async def __call__(self, request: Request) -> None:
        """Spend the hits; record the tightest decision for the headers; raise on exhaustion."""
        user: str | None = None
        if self._user_of is not None and self._per_user:
            user = await self._user_of(request)
        hits: list[tuple[RateLimitRule, str]] = []
        ip: str | None = None
        for rule in self._rules:
            if rule.per == "user":
                if user is None:
                    continue
                hits.append((rule, user))
            else:
                ip = ip or client_ip(request, trusted_proxy_hops=self._hops)
                hits.append((rule, ip))
        if not hits:
            return
        decisions = await self._hit_all(hits)
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

    async def _hit_all(self, hits: list[tuple[RateLimitRule, str]]) -> list[RateLimitDecision]:
        try:
            return await self._limiter.hit_all(hits)
        except Exception as exc:
            names = ",".join(rule.name for rule, _ in hits)
            log.warning("rate_limit_unavailable", rule=names, error=type(exc).__name__)
            if all(rule.fail_open for rule, _ in hits):
                return []
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
