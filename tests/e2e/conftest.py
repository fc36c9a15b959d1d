"""Black-box fixtures: the running stack (`make up`), the generated /v1 client, real topics.

Every test signs up its own org, so tests share the stack without seeing each other's data
(tenant isolation is itself one of the invariants under test). Tests that change shared state
of the stack (the fake provider's faults) are marked ``serial`` and run after the others, alone.
Waiting is always polling with a deadline (:func:`eventually`), never a fixed sleep.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import os
import socket
import sys
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
import uvicorn
from aiokafka import AIOKafkaConsumer, TopicPartition
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from shared.testing.asyncapi import EventContract

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "clients" / "python" / "generated"))

from ordo_client import AuthenticatedClient, Client  # noqa: E402
from ordo_client.api.auth import sign_up  # noqa: E402
from ordo_client.api.products import create_product  # noqa: E402
from ordo_client.api.stock import set_stock_on_hand  # noqa: E402
from ordo_client.models import (  # noqa: E402
    CreateProductRequest,
    Money,
    ProblemDetails,
    SetStockRequest,
    SignUpRequest,
    TokenResponse,
)

GATEWAY = os.environ.get("ORDO_E2E_GATEWAY_URL", "http://127.0.0.1:8000")
PROVIDER = os.environ.get("ORDO_E2E_PROVIDER_URL", "http://127.0.0.1:8090")
KAFKA = os.environ.get("ORDO_E2E_KAFKA", f"127.0.0.1:{os.environ.get('ORDO_KAFKA_PORT', '19092')}")
TOPICS = ("orders.events", "catalog.events", "payments.events", "notifications.events")
T = TypeVar("T")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every test in this folder is an e2e test."""
    for item in items:
        if Path(str(item.fspath)).is_relative_to(Path(__file__).parent):
            item.add_marker(pytest.mark.e2e)


async def eventually(
    probe: Callable[[], Awaitable[T | None]], *, within: float = 30.0, every: float = 0.1
) -> T:
    """Poll ``probe`` until it returns something truthy; fail after ``within`` seconds."""
    deadline = time.monotonic() + within
    last: Any = None
    while True:
        last = await probe()
        if last:
            return last
        if time.monotonic() > deadline:
            raise AssertionError(f"not reached within {within} s; last value: {last!r}")
        await asyncio.sleep(every)


def ok(response: Any, status: int = 200) -> Any:
    """The parsed body of a client response, after checking its status (shows problems)."""
    assert response.status_code == status, (
        f"expected {status}, got {response.status_code}: {response.content[:500]!r}"
    )
    assert not isinstance(response.parsed, ProblemDetails), response.parsed
    return response.parsed


@pytest.fixture(scope="session")
async def stack() -> None:
    """Fail early and clearly when the stack is not running."""
    async with httpx.AsyncClient(timeout=3) as http:
        for base in (GATEWAY, PROVIDER):
            try:
                answer = await http.get(f"{base}/health/ready")
            except httpx.TransportError as exc:
                pytest.fail(f"{base} is not reachable ({exc!r}): run `make up` first")
            assert answer.status_code == 200, f"{base} is not ready: {answer.text}"


@dataclass
class Tenant:
    """A freshly signed-up org and its owner, with a /v1 client carrying the owner's token."""

    client: AuthenticatedClient
    org_id: uuid.UUID
    user_id: uuid.UUID
    token: str

    async def product(self, sku: str, price_minor: int, on_hand: int) -> None:
        """Create a product priced in EUR and set its stock."""
        body = CreateProductRequest(
            sku=sku, name=f"Product {sku}", price=Money(amount_minor=price_minor, currency="EUR")
        )
        ok(
            await create_product.asyncio_detailed(
                client=self.client, body=body, idempotency_key=str(uuid.uuid4())
            ),
            201,
        )
        ok(
            await set_stock_on_hand.asyncio_detailed(
                sku, client=self.client, body=SetStockRequest(on_hand=on_hand)
            )
        )


@pytest.fixture
async def new_tenant(stack: None) -> AsyncIterator[Callable[[], Awaitable[Tenant]]]:
    """Factory: sign up a new user and org through the gateway."""
    clients: list[AuthenticatedClient] = []

    async def make() -> Tenant:
        anonymous = Client(base_url=GATEWAY, timeout=httpx.Timeout(30.0))
        async with anonymous:
            tag = uuid.uuid4().hex[:12]
            token: TokenResponse = ok(
                await sign_up.asyncio_detailed(
                    client=anonymous,
                    body=SignUpRequest(
                        email=f"e2e-{tag}@example.com",
                        password=f"e2e password {tag}",
                        display_name=f"E2E {tag}",
                        org_name=f"E2E org {tag}",
                    ),
                    idempotency_key=str(uuid.uuid4()),
                ),
                201,
            )
        client = AuthenticatedClient(
            base_url=GATEWAY, token=token.access_token, timeout=httpx.Timeout(30.0)
        )
        clients.append(client)
        return Tenant(client, token.org_id, token.user_id, token.access_token)

    yield make
    for client in clients:
        await client.get_async_httpx_client().aclose()


@pytest.fixture
async def tenant(new_tenant: Callable[[], Awaitable[Tenant]]) -> Tenant:
    """One fresh tenant for the test."""
    return await new_tenant()


@dataclass
class Record:
    """One record seen on an Ordo topic, decoded."""

    topic: str
    key: str | None
    headers: dict[str, str]
    payload: Any

    @property
    def ce_type(self) -> str:
        return self.headers.get("ce_type", "")


@dataclass
class TopicLog:
    """Every record published on the events topics since the fixture started (background)."""

    records: list[Record] = field(default_factory=list)

    def for_org(self, org_id: uuid.UUID) -> list[Record]:
        return [r for r in self.records if r.headers.get("ce_orgid") == str(org_id)]

    def for_key(self, key: str | uuid.UUID) -> list[Record]:
        return [r for r in self.records if r.key == str(key)]

    def types_for(self, key: str | uuid.UUID) -> list[str]:
        return [r.ce_type for r in self.for_key(key)]


@pytest.fixture(scope="session")
async def topic_log(stack: None) -> AsyncIterator[TopicLog]:
    """Read the four events topics from their end at start, for the whole session."""
    log = TopicLog()
    consumer = AIOKafkaConsumer(bootstrap_servers=KAFKA, enable_auto_commit=False)
    await consumer.start()
    partitions = [
        TopicPartition(topic, p)
        for topic in TOPICS
        for p in sorted(consumer.partitions_for_topic(topic) or await _partitions(consumer, topic))
    ]
    consumer.assign(partitions)
    ends = await consumer.end_offsets(partitions)
    for tp, offset in ends.items():
        consumer.seek(tp, offset)

    async def pump() -> None:
        async for message in consumer:
            log.records.append(
                Record(
                    topic=message.topic,
                    key=message.key.decode() if message.key else None,
                    headers={k: v.decode(errors="replace") for k, v in message.headers},
                    payload=json.loads(message.value) if message.value else None,
                )
            )

    task = asyncio.create_task(pump())
    yield log
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    await consumer.stop()


async def _partitions(consumer: AIOKafkaConsumer, topic: str) -> set[int]:
    await consumer._client.force_metadata_update()  # noqa: SLF001 - aiokafka has no public way
    found = consumer.partitions_for_topic(topic)
    assert found, f"topic {topic} does not exist: run `make up`"
    return found


@pytest.fixture(scope="session")
def event_contract() -> EventContract:
    """Every message of contracts/asyncapi, by ce_type."""
    return EventContract.load_dir(REPO / "contracts" / "asyncapi")


def verify_standard_webhook(
    secret: str, headers: dict[str, str], body: bytes, tolerance_s: int = 300
) -> bool:
    """Verify a Standard Webhooks signature independently of the service's code."""
    msg_id, timestamp = headers.get("webhook-id"), headers.get("webhook-timestamp")
    signatures = headers.get("webhook-signature", "")
    if not msg_id or not timestamp or not signatures:
        return False
    if abs(time.time() - int(timestamp)) > tolerance_s:
        return False
    key = base64.b64decode(secret.removeprefix("whsec_"))
    expected = base64.b64encode(
        hmac.new(key, f"{msg_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()
    ).decode()
    return any(
        version == "v1" and hmac.compare_digest(value, expected)
        for version, _, value in (part.partition(",") for part in signatures.split(" "))
    )


@dataclass
class Delivery:
    """One webhook request the receiver got."""

    headers: dict[str, str]
    body: bytes
    verified: bool

    @property
    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Receiver:
    """A webhook receiver on a free loopback port; verifies every request's signature."""

    url: str
    secrets: list[str] = field(default_factory=list)
    deliveries: list[Delivery] = field(default_factory=list)


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    """An HTTP server for webhooks, answering 204 to every POST."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    box = Receiver(url=f"http://127.0.0.1:{port}/hooks")

    async def hook(request: Request) -> Response:
        body = await request.body()
        headers = {k.lower(): v for k, v in request.headers.items()}
        verified = any(verify_standard_webhook(s, headers, body) for s in box.secrets)
        box.deliveries.append(Delivery(headers, body, verified))
        return Response(status_code=204)

    app = Starlette(routes=[Route("/hooks", hook, methods=["POST"])])
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, access_log=False)
    )
    task = asyncio.create_task(server.serve())
    await eventually(lambda: _started(server), within=10, every=0.02)
    yield box
    server.should_exit = True
    await task


async def _started(server: uvicorn.Server) -> bool:
    return server.started


@dataclass
class Provider:
    """The fake payment provider's admin API (shared by every test: serial tests only)."""

    http: httpx.AsyncClient

    async def outage(self, duration_s: float, mode: str = "503") -> None:
        r = await self.http.post(
            "/admin/outages", json={"start_in_s": 0, "duration_s": duration_s, "mode": mode}
        )
        assert r.status_code == 201, r.text

    async def end_outages(self) -> None:
        assert (await self.http.delete("/admin/outages")).status_code == 204

    async def authorizations(self, reference: str) -> list[dict[str, Any]]:
        r = await self.http.get("/v1/authorizations", params={"reference": reference})
        assert r.status_code == 200, r.text
        items: list[dict[str, Any]] = r.json()["items"]
        return items


@pytest.fixture
async def provider(stack: None) -> AsyncIterator[Provider]:
    """The fake provider; outages are always ended afterwards."""
    async with httpx.AsyncClient(base_url=PROVIDER, timeout=10) as http:
        control = Provider(http)
        yield control
        await control.end_outages()
