"""Rate limits in the real Redis: 429 problem+json with Retry-After and RateLimit headers."""

from __future__ import annotations

import httpx
import pytest
from fastapi import APIRouter, Depends
from redis.asyncio import Redis

from shared.errors import PermissionDeniedError
from shared.http import create_app
from shared.http.ratelimit import (
    RateLimitGuard,
    RateLimitHeadersMiddleware,
    RateLimitRule,
    RedisRateLimiter,
)
from shared.settings import ServiceSettings

pytestmark = pytest.mark.integration


def app_with(redis: Redis, prefix: str, *rules: RateLimitRule, user: str | None = None):
    limiter = RedisRateLimiter(redis, key_prefix=prefix)

    async def user_of(_request) -> str | None:
        return user

    guard = RateLimitGuard(limiter, rules, user_of=user_of)
    router = APIRouter()

    @router.post("/login", dependencies=[Depends(guard)])
    async def login() -> dict[str, bool]:
        return {"ok": True}

    @router.post("/denied", dependencies=[Depends(guard)])
    async def denied() -> None:
        raise PermissionDeniedError()

    app = create_app(
        title="t", version="0", settings=ServiceSettings(), readiness={}, routers=[router]
    )
    app.add_middleware(RateLimitHeadersMiddleware)
    return app


async def test_the_limit_answers_429_with_headers(redis_client: Redis, redis_prefix: str) -> None:
    app = app_with(redis_client, redis_prefix, RateLimitRule("login", "3/minute"))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        answers = [await client.post("/login") for _ in range(4)]
    assert [a.status_code for a in answers] == [200, 200, 200, 429]
    assert answers[0].headers["ratelimit-policy"] == '"login";q=3;w=60'
    assert answers[0].headers["ratelimit"].startswith('"login";r=2;t=')
    limited = answers[-1]
    assert limited.headers["content-type"].startswith("application/problem+json")
    assert limited.json()["code"] == "rate_limit.exceeded"
    assert 1 <= int(limited.headers["retry-after"]) <= 60
    assert limited.headers["ratelimit"].startswith('"login";r=0;t=')
    assert limited.headers["x-content-type-options"] == "nosniff"  # security headers on errors


async def test_per_user_limits_count_per_user_and_are_skipped_when_anonymous(
    redis_client: Redis, redis_prefix: str
) -> None:
    rule = RateLimitRule("user", "2/minute", per="user")
    anonymous = app_with(redis_client, redis_prefix, rule)
    alice = app_with(redis_client, redis_prefix, rule, user="alice")
    bob = app_with(redis_client, redis_prefix, rule, user="bob")
    statuses = {}
    for name, app in (("anon", anonymous), ("alice", alice), ("bob", bob)):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            statuses[name] = [(await client.post("/login")).status_code for _ in range(3)]
    assert statuses == {
        "anon": [200, 200, 200],
        "alice": [200, 200, 429],
        "bob": [200, 200, 429],
    }


async def test_headers_are_on_other_errors_too(redis_client: Redis, redis_prefix: str) -> None:
    app = app_with(redis_client, redis_prefix, RateLimitRule("x", "5/minute"))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        response = await client.post("/denied")
    assert response.status_code == 403
    assert response.headers["ratelimit"].startswith('"x";r=4;')


async def test_one_redis_round_trip_per_request_whatever_the_rules(
    redis_client: Redis, redis_prefix: str
) -> None:
    rules = (
        RateLimitRule("ip", "100/minute", fail_open=True),
        RateLimitRule("user", "100/minute", per="user", fail_open=True),
        RateLimitRule("login", "3/minute"),
    )
    app = app_with(redis_client, redis_prefix, *rules, user="alice")
    commands: list[str] = []
    execute = redis_client.execute_command

    async def counting(*args: object, **options: object) -> object:
        commands.append(str(args[0]))
        return await execute(*args, **options)

    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        assert (await client.post("/login")).status_code == 200  # loads the script once
        redis_client.execute_command = counting  # type: ignore[method-assign]
        answers = [await client.post("/login") for _ in range(4)]
    assert [a.status_code for a in answers] == [200, 200, 429, 429]
    assert commands == ["EVALSHA"] * 4  # three rules, allowed or limited: one round trip
    assert answers[1].headers["ratelimit"].startswith('"login";r=0;t=')
