"""The HTTP sender on httpx's mock transport (no network): deadlines, what the breaker counts,
one breaker per endpoint, and addresses a delivery may not reach."""

from __future__ import annotations

import asyncio
import uuid

import httpx
import pytest
from prometheus_client import CollectorRegistry

from notifications.adapters.webhooks.sender import HttpxWebhookSender
from notifications.application.ports import WebhookRequest
from notifications.domain.values import AttemptError
from shared.observability.metrics import Metrics

PUBLIC = "https://93.184.216.34/hook"  # an IP literal: resolving it needs no DNS


def sender_for(
    handler: httpx.MockTransport, *, allow_loopback: bool = False, fail_max: int = 2
) -> HttpxWebhookSender:
    return HttpxWebhookSender(
        timeout_s=0.2,
        breaker_fail_max=fail_max,
        breaker_reset_s=60,
        allow_loopback=allow_loopback,
        metrics=Metrics(CollectorRegistry()),
        client=httpx.AsyncClient(transport=handler, follow_redirects=False),
    )


def request(endpoint_id: uuid.UUID, url: str = PUBLIC) -> WebhookRequest:
    return WebhookRequest(endpoint_id, url, {"webhook-id": "d-1"}, '{"type":"order.placed"}')


def answering(*statuses: int) -> tuple[httpx.MockTransport, list[httpx.Request]]:
    seen: list[httpx.Request] = []
    queue = list(statuses)

    def handle(req: httpx.Request) -> httpx.Response:
        seen.append(req)
        return httpx.Response(queue.pop(0) if len(queue) > 1 else queue[0])

    return httpx.MockTransport(handle), seen


async def test_a_2xx_is_a_success_and_the_request_is_as_signed() -> None:
    transport, seen = answering(202)
    result = await sender_for(transport).send(request(uuid.uuid4()))
    assert (result.response_status, result.error) == (202, None)
    [sent] = seen
    assert sent.method == "POST"
    assert sent.headers["webhook-id"] == "d-1"
    assert sent.headers["content-type"] == "application/json"
    assert sent.content == b'{"type":"order.placed"}'


async def test_5xx_and_429_open_the_endpoints_circuit_but_4xx_do_not() -> None:
    transport, seen = answering(404, 404, 404, 500, 429)
    sender = sender_for(transport, fail_max=2)
    endpoint = uuid.uuid4()
    results = [await sender.send(request(endpoint)) for _ in range(6)]
    assert [(r.response_status, r.error) for r in results] == [
        (404, AttemptError.HTTP_STATUS),
        (404, AttemptError.HTTP_STATUS),
        (404, AttemptError.HTTP_STATUS),  # answered: the breaker does not count them
        (500, AttemptError.HTTP_STATUS),
        (429, AttemptError.HTTP_STATUS),  # the second counted failure opens the circuit
        (None, AttemptError.CIRCUIT_OPEN),
    ]
    assert len(seen) == 5  # the last attempt was not made
    assert results[-1].duration_ms == 0
    assert results[-1].retry_after is not None
    assert 59 < results[-1].retry_after.total_seconds() <= 60
    other = await sender.send(request(uuid.uuid4()))  # another endpoint, its own breaker
    assert other.error is AttemptError.HTTP_STATUS
    assert len(seen) == 6


async def test_a_slow_endpoint_times_out_and_counts() -> None:
    async def slow(req: httpx.Request) -> httpx.Response:
        await asyncio.sleep(2)
        return httpx.Response(200)

    sender = sender_for(httpx.MockTransport(slow), fail_max=1)
    endpoint = uuid.uuid4()
    first = await sender.send(request(endpoint))
    assert (first.response_status, first.error) == (None, AttemptError.TIMEOUT)
    assert 150 <= first.duration_ms < 1500
    assert (await sender.send(request(endpoint))).error is AttemptError.CIRCUIT_OPEN


async def test_a_connection_error_is_reported_as_such() -> None:
    def refuse(req: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=req)

    result = await sender_for(httpx.MockTransport(refuse)).send(request(uuid.uuid4()))
    assert (result.response_status, result.error) == (None, AttemptError.CONNECT_ERROR)


async def test_redirects_are_not_followed() -> None:
    transport, seen = answering(307)
    result = await sender_for(transport).send(request(uuid.uuid4()))
    assert (result.response_status, result.error) == (307, AttemptError.HTTP_STATUS)
    assert len(seen) == 1


@pytest.mark.parametrize(
    ("url", "allow_loopback"),
    [
        ("http://127.0.0.1:9/hook", False),
        ("http://localhost:9/hook", False),
        ("https://10.1.2.3/hook", True),
        ("https://169.254.169.254/latest/meta-data", True),
    ],
)
async def test_private_and_loopback_targets_are_never_called(
    url: str, allow_loopback: bool
) -> None:
    transport, seen = answering(200)
    sender = sender_for(transport, allow_loopback=allow_loopback)
    result = await sender.send(request(uuid.uuid4(), url))
    assert (result.response_status, result.error) == (None, AttemptError.CONNECT_ERROR)
    assert seen == []


async def test_loopback_targets_where_allowed() -> None:
    transport, seen = answering(204)
    result = await sender_for(transport, allow_loopback=True).send(
        request(uuid.uuid4(), "http://127.0.0.1:9/hook")
    )
    assert result.response_status == 204
    assert len(seen) == 1
