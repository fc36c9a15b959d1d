"""UpstreamClient: which failure becomes which error, what is retried for which call, the
breaker, and admission control (a scripted transport stands in for the network; the
integration tests use real HTTP)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping
from dataclasses import dataclass

import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from gateway.adapters.admission import Admission
from gateway.adapters.transport import Answer, DroppedError, NotSentError
from gateway.adapters.upstream import (
    UpstreamClient,
    UpstreamFailedError,
    UpstreamOverloadedError,
    UpstreamRequest,
    UpstreamTimeoutError,
    UpstreamUnavailableError,
    is_refusal,
)
from gateway.domain.admission import LimitPolicy
from shared.observability import Metrics, configure_tracing
from shared.resilience import AsyncCircuitBreaker, RetryPolicy

GET = UpstreamRequest("GET", "/products", idempotent=True)
POST = UpstreamRequest("POST", "/products", content=b"{}", idempotent=False)


async def no_sleep(_seconds: float) -> None:
    return None


@dataclass(frozen=True)
class Sent:
    method: str
    target: str
    headers: dict[str, str]
    content: bytes | None


class Recorder:
    """A transport answering from a script (the last entry repeats), recording each attempt."""

    def __init__(self, *script: int | type[Exception] | str) -> None:
        self.script = list(script)
        self.sent: list[Sent] = []

    @property
    def attempts(self) -> int:
        return len(self.sent)

    async def exchange(
        self, method: str, target: str, headers: Mapping[str, str], content: bytes | None
    ) -> Answer:
        self.sent.append(Sent(method, target, dict(headers), content))
        step = self.script[min(self.attempts, len(self.script)) - 1]
        if step == "slow":
            await asyncio.sleep(1)
            step = 200
        if isinstance(step, type):
            raise step("simulated")
        if step == "html":
            return Answer(200, {"content-type": "text/html"}, b"<html>")
        if step == "overloaded":
            problem = {"code": "orders.overloaded", "detail": "the saga is behind"}
            headers = {"content-type": "application/problem+json", "retry-after": "3"}
            return Answer(503, headers, json.dumps(problem).encode())
        assert isinstance(step, int)
        headers = {"content-type": "application/json"}
        if step == 503:
            headers["retry-after"] = "7"
        return Answer(step, headers, json.dumps({"ok": step}).encode())

    async def aclose(self) -> None:
        return None


def client(
    transport: Recorder,
    *,
    attempts: int = 3,
    fail_max: int = 50,
    metrics: Metrics | None = None,
    admission: Admission | None = None,
) -> UpstreamClient:
    return UpstreamClient(
        "catalog",
        transport,
        timeout_s=0.2,
        breaker=AsyncCircuitBreaker(
            "catalog",
            fail_max=fail_max,
            reset_timeout_s=30,
            exclude=[is_refusal],
            metrics=metrics or Metrics(),
        ),
        retry=RetryPolicy(attempts=attempts, initial_delay_s=0, max_delay_s=0),
        retry_after_s=2,
        admission=admission,
        sleep=no_sleep,
    )


@pytest.mark.parametrize(
    ("failure", "error", "get_attempts", "post_attempts"),
    [
        (NotSentError, UpstreamUnavailableError, 3, 3),  # never sent: safe for any call
        (DroppedError, UpstreamUnavailableError, 3, 1),  # dropped after sending
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
    recorder = Recorder(NotSentError)
    upstream = client(recorder, attempts=5, fail_max=2)
    with pytest.raises(UpstreamUnavailableError) as caught:
        await upstream.send(GET)
    assert recorder.attempts == 2  # the third attempt met the open circuit and stopped
    assert caught.value.circuit_open is True


async def test_the_service_sees_the_trace_context_of_the_client_span() -> None:
    exporter = InMemorySpanExporter()
    configure_tracing("gateway-test", "0", None, exporter=exporter)
    recorder = Recorder(200)
    await client(recorder).send(GET)
    [span] = [s for s in exporter.get_finished_spans() if s.name == "GET catalog"]
    parent = recorder.sent[0].headers["traceparent"].split("-")
    assert parent[1] == format(span.context.trace_id, "032x")
    assert parent[2] == format(span.context.span_id, "016x")


async def test_the_query_is_encoded_into_the_target() -> None:
    recorder = Recorder(200)
    call = UpstreamRequest("GET", "/stock", query=[("sku", "A 1/2"), ("sku", "B&C")])
    await client(recorder).send(call)
    assert recorder.sent[0].target == "/stock?sku=A%201%2F2&sku=B%26C"


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def one_slot(clock: FakeClock) -> Admission:
    return Admission("catalog", LimitPolicy(initial_limit=1, min_limit=1, max_limit=1), clock=clock)


async def test_a_call_beyond_the_limit_is_refused_and_never_sent() -> None:
    admission = one_slot(FakeClock())
    recorder = Recorder("slow")
    upstream = client(recorder, admission=admission)
    first = asyncio.create_task(upstream.send(GET))
    await asyncio.sleep(0.01)
    with pytest.raises(UpstreamOverloadedError) as caught:
        await upstream.send(POST)
    with pytest.raises(UpstreamTimeoutError):
        await first
    assert recorder.attempts == 1  # the refused call never reached the transport
    assert caught.value.code == "gateway.overloaded"
    assert caught.value.retry_after_s == 1
    assert admission.shed == {"limit": 1, "queue_timeout": 0}
    assert admission.limit.in_flight == 0  # the timed-out call gave its slot back
    assert upstream.breaker.fail_counter == 1  # the timeout counted, the refusal did not


async def test_a_refusal_is_not_retried_even_for_a_get() -> None:
    admission = one_slot(FakeClock())
    upstream = client(Recorder(200), admission=admission)
    admission.limit.try_acquire(0.0)  # the one slot is taken
    with pytest.raises(UpstreamOverloadedError):
        await upstream.send(GET)
    assert admission.shed["limit"] == 1


async def test_a_service_shedding_load_is_relayed_not_retried_and_not_a_failure() -> None:
    for call in (GET, POST):
        recorder = Recorder("overloaded", 200)
        upstream = client(recorder, fail_max=1)
        with pytest.raises(UpstreamUnavailableError) as caught:
            await upstream.send(call)
        assert recorder.attempts == 1, call.method  # retrying would add to the overload
        assert caught.value.code == "orders.overloaded"
        assert caught.value.retry_after_s == 3
        assert "nothing was done" in caught.value.message
        assert upstream.breaker.fail_counter == 0  # the service is working: it sheds
        assert (await upstream.send(GET)).status == 200  # the circuit stayed closed
