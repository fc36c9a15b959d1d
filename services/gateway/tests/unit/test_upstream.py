"""UpstreamClient: which failure becomes which error, what is retried for which call, and the
breaker (httpx's MockTransport stands in for the network; the integration tests use real HTTP)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import httpx
import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from gateway.adapters.upstream import (
    UpstreamClient,
    UpstreamFailedError,
    UpstreamRequest,
    UpstreamTimeoutError,
    UpstreamUnavailableError,
)
from shared.observability import Metrics, configure_tracing
from shared.resilience import AsyncCircuitBreaker, RetryPolicy

Handler = Callable[[httpx.Request], Awaitable[httpx.Response]]
GET = UpstreamRequest("GET", "/products", idempotent=True)
POST = UpstreamRequest("POST", "/products", content=b"{}", idempotent=False)


async def no_sleep(_seconds: float) -> None:
    return None


class Recorder:
    """Answers from a script (the last entry repeats) and counts the attempts."""

    def __init__(self, *script: int | type[Exception] | str) -> None:
        self.script = list(script)
        self.attempts = 0

    async def __call__(self, request: httpx.Request) -> httpx.Response:
        self.attempts += 1
        step = self.script[min(self.attempts, len(self.script)) - 1]
        if step == "slow":
            await asyncio.sleep(1)
            step = 200
        if isinstance(step, type):
            raise step("simulated", request=request)  # type: ignore[call-arg]
        if step == "html":
            return httpx.Response(200, text="<html>", headers={"content-type": "text/html"})
        assert isinstance(step, int)
        headers = {"retry-after": "7"} if step == 503 else {}
        return httpx.Response(step, json={"ok": step}, headers=headers)


def client(
    handler: Handler, *, attempts: int = 3, fail_max: int = 50, metrics: Metrics | None = None
) -> UpstreamClient:
    http = httpx.AsyncClient(base_url="http://catalog", transport=httpx.MockTransport(handler))
    return UpstreamClient(
        "catalog",
        http,
        timeout_s=0.2,
        breaker=AsyncCircuitBreaker(
            "catalog", fail_max=fail_max, reset_timeout_s=30, metrics=metrics or Metrics()
        ),
        retry=RetryPolicy(attempts=attempts, initial_delay_s=0, max_delay_s=0),
        retry_after_s=2,
        sleep=no_sleep,
    )


@pytest.mark.parametrize(
    ("failure", "error", "get_attempts", "post_attempts"),
    [
        (httpx.ConnectError, UpstreamUnavailableError, 3, 3),  # never sent: safe for any call
        (httpx.ConnectTimeout, UpstreamUnavailableError, 3, 3),
        (httpx.ReadError, UpstreamUnavailableError, 3, 1),  # dropped after sending
        (503, UpstreamUnavailableError, 3, 1),
        (502, UpstreamFailedError, 3, 1),
        (504, UpstreamFailedError, 3, 1),
        (500, UpstreamFailedError, 1, 1),  # a bug does not heal on retry
        ("slow", UpstreamTimeoutError, 1, 1),  # slow: retrying would double the load
        ("html", UpstreamFailedError, 1, 1),
    ],
)
async def test_failures_map_to_errors_and_retries_follow_the_call(
    failure: int | type[Exception] | str,
    error: type[Exception],
    get_attempts: int,
    post_attempts: int,
) -> None:
    for call, expected in ((GET, get_attempts), (POST, post_attempts)):
        recorder = Recorder(failure)
        with pytest.raises(error):
            await client(recorder).send(call)
        assert recorder.attempts == expected, call.method


async def test_a_get_succeeds_after_a_transient_503_but_a_post_does_not_retry() -> None:
    recorder = Recorder(503, 200)
    answer = await client(recorder).send(GET)
    assert (answer.status, recorder.attempts) == (200, 2)
    recorder = Recorder(503, 201)
    with pytest.raises(UpstreamUnavailableError) as caught:
        await client(recorder).send(POST)
    assert recorder.attempts == 1
    assert caught.value.retry_after_s == 7  # the service's own Retry-After
    assert caught.value.reached is True


async def test_4xx_answers_pass_and_count_as_the_service_working() -> None:
    metrics = Metrics()
    upstream = client(Recorder(404), fail_max=1, metrics=metrics)
    for _ in range(3):
        answer = await upstream.send(GET)
        assert answer.status == 404
        assert answer.json() == {"ok": 404}
    assert upstream.breaker.fail_counter == 0


async def test_the_breaker_opens_after_fail_max_and_then_calls_nothing() -> None:
    metrics = Metrics()
    recorder = Recorder(500)
    upstream = client(recorder, attempts=1, fail_max=3, metrics=metrics)
    for _ in range(3):
        with pytest.raises(UpstreamFailedError):
            await upstream.send(GET)
    assert metrics.registry.get_sample_value("breaker_state", {"name": "catalog"}) == 2
    with pytest.raises(UpstreamUnavailableError) as caught:
        await upstream.send(GET)
    assert recorder.attempts == 3  # the fourth call never reached the service
    assert caught.value.circuit_open is True
    assert 29 <= caught.value.retry_after_s <= 30


async def test_an_open_breaker_is_not_retried() -> None:
    recorder = Recorder(httpx.ConnectError)
    upstream = client(recorder, attempts=5, fail_max=2)
    with pytest.raises(UpstreamUnavailableError) as caught:
        await upstream.send(GET)
    assert recorder.attempts == 2  # the third attempt met the open circuit and stopped
    assert caught.value.circuit_open is True


async def test_the_service_sees_the_trace_context_of_the_client_span() -> None:
    exporter = InMemorySpanExporter()
    configure_tracing("gateway-test", "0", None, exporter=exporter)
    seen: list[httpx.Request] = []

    async def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={})

    await client(handler).send(GET)
    [span] = [s for s in exporter.get_finished_spans() if s.name == "GET catalog"]
    parent = seen[0].headers["traceparent"].split("-")
    assert parent[1] == format(span.context.trace_id, "032x")
    assert parent[2] == format(span.context.span_id, "016x")
