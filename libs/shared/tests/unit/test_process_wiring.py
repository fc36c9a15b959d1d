"""The chassis' process wiring: closing lifespans, the JWKS verifier, the consumer process."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import create_async_engine

from shared.auth import AuthSettings, InvalidTokenError, Role, jwks_verifier
from shared.http import closing_lifespan
from shared.inbox.process import build_consumer_process
from shared.observability import configure_process
from shared.settings import KafkaSettings, ServiceSettings
from shared.testing.tokens import TokenIssuer

ISS, AUD, KID = "https://identity.wiring", "ordo-wiring", "wiring-key"


async def test_a_closing_lifespan_closes_in_order_at_shutdown_only() -> None:
    closed: list[str] = []

    def closer(name: str) -> Any:
        async def close() -> None:
            closed.append(name)

        return close

    app = FastAPI(lifespan=closing_lifespan(closer("client"), closer("doorbell"), closer("pool")))
    async with LifespanManager(app):
        assert closed == []
    assert closed == ["client", "doorbell", "pool"]


async def test_the_jwks_verifier_fetches_identity_keys_and_checks_issuer_and_audience() -> None:
    tokens = TokenIssuer(issuer=ISS, audience=AUD, kid=KID)
    fetched: list[str] = []

    def identity(request: httpx.Request) -> httpx.Response:
        fetched.append(str(request.url))
        return httpx.Response(200, json=tokens.jwks)

    settings = AuthSettings(jwks_url="http://identity.wiring/jwks", issuer=ISS, audience=AUD)
    org_id, user_id = uuid.uuid4(), uuid.uuid4()
    async with httpx.AsyncClient(transport=httpx.MockTransport(identity)) as http:
        verifier = jwks_verifier(settings, http)
        principal = await verifier.verify(tokens.token(org_id, "viewer", user_id=user_id))
        with pytest.raises(InvalidTokenError):
            await verifier.verify(tokens.token(org_id, "viewer", aud="another-api"))
        with pytest.raises(InvalidTokenError):
            await verifier.verify(tokens.token(org_id, "viewer", iss="https://elsewhere"))
    assert (principal.org_id, principal.user_id) == (org_id, user_id)
    assert principal.roles == {Role.VIEWER}
    assert fetched == ["http://identity.wiring/jwks"]


async def test_the_jwks_verifier_uses_given_keys_instead_of_fetching() -> None:
    tokens = TokenIssuer(issuer=ISS, audience=AUD, kid=KID)

    def unreachable(request: httpx.Request) -> httpx.Response:
        raise AssertionError("no JWKS fetch when keys are given")

    settings = AuthSettings(issuer=ISS, audience=AUD)
    async with httpx.AsyncClient(transport=httpx.MockTransport(unreachable)) as http:
        verifier = jwks_verifier(settings, http, keys=tokens.keys)
        principal = await verifier.verify(tokens.token(uuid.uuid4(), "owner", "admin"))
    assert principal.roles == {Role.OWNER, Role.ADMIN}


async def _ok() -> None:
    return None


async def _noop(_event: Any, _uow: Any) -> None:
    return None


async def test_the_consumer_process_has_one_consumer_a_topic_and_closes_what_it_was_given() -> None:
    settings = ServiceSettings(
        service_name="wiring", kafka=KafkaSettings(bootstrap_servers="127.0.0.1:1")
    )
    engine = create_async_engine("postgresql+asyncpg://nobody@127.0.0.1:1/none")
    closed: list[str] = []

    async def close_doorbell() -> None:
        closed.append("doorbell")

    process = build_consumer_process(
        settings,
        version="9.9.9",
        engine=engine,
        unit_of_work=lambda: pytest.fail("no event is handled here"),
        group="wiring",
        topics={"a.events": {"a.v1": _noop}, "b.events": {"b.v1": _noop}},
        max_workers=3,
        readiness={"extra": _ok},
        closers=[close_doorbell],
    )
    try:
        assert [(c.topic, c.group) for c in process.consumers] == [
            ("a.events", "wiring"),
            ("b.events", "wiring"),
        ]
        assert (process.engine, process.bootstrap_servers) == (engine, "127.0.0.1:1")
        assert process.health.title == "Ordo wiring consumer"
        assert process.health.version == "9.9.9"
        async with LifespanManager(process.health) as manager:
            transport = httpx.ASGITransport(app=manager.app)
            async with httpx.AsyncClient(transport=transport, base_url="http://h") as client:
                ready = (await client.get("/health/ready")).json()
        # PostgreSQL and Kafka are unreachable here: not ready, and the extra check ran too.
        assert set(ready["checks"]) == {"postgres", "kafka", "extra"}
        assert ready["checks"]["extra"]["status"] == "ok"
        assert ready["checks"]["kafka"]["status"] == "fail"
        assert closed == ["doorbell"]
    finally:
        await engine.dispose()


@pytest.mark.parametrize(("role", "name"), [(None, "wiring"), ("relay", "wiring-relay")])
def test_a_process_is_named_after_its_service_and_role(
    monkeypatch: pytest.MonkeyPatch, role: str | None, name: str
) -> None:
    from shared.observability import _process  # noqa: PLC0415 - patched below

    calls: list[tuple[Any, ...]] = []
    monkeypatch.setattr(_process, "configure_logging", lambda *a: calls.append(("logs", *a)))
    monkeypatch.setattr(
        _process, "configure_tracing", lambda *a, **kw: calls.append(("traces", *a, kw))
    )
    settings = ServiceSettings(
        service_name="wiring",
        log_level="DEBUG",
        otel_exporter_otlp_endpoint="http://otel:4318",
        otel_traces_sample_ratio=0.25,
    )
    assert configure_process(settings, "1.2.3", role) == name
    assert calls == [
        ("logs", name, "DEBUG"),
        ("traces", name, "1.2.3", "http://otel:4318", {"sample_ratio": 0.25}),
    ]
