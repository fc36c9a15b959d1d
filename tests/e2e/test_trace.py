"""One order's trace, as the local trace store (Jaeger, `make up`) returns it.

The order is placed through /v1 with a ``traceparent`` of the test's own trace id, so the
trace is found by id: every hop (gateway -> orders-api -> outbox relay -> Kafka -> catalog's
and payments' consumers -> the provider call -> notifications' consumer -> the webhook
delivery) must have carried the context on, each process exporting its spans on its own.
docs/tracing.md shows such a trace.
"""

from __future__ import annotations

import os
import secrets
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
from ordo_client import AuthenticatedClient
from ordo_client.api.orders import place_order
from ordo_client.api.webhooks import create_webhook_endpoint
from ordo_client.models import CreateWebhookEndpointRequest, OrderStatus, WebhookEventType

from .conftest import GATEWAY, Receiver, Tenant, eventually, ok
from .test_order_saga import order_request, settled

JAEGER = os.environ.get("ORDO_E2E_JAEGER_URL", "http://127.0.0.1:16686")


@dataclass(frozen=True)
class Span:
    """One span of the trace, as Jaeger's query API gives it."""

    service: str
    operation: str
    kind: str
    span_id: str
    parent_id: str | None
    trace_id: str
    start: int

    def of(self, service: str) -> bool:
        # Combined layout: one process per service ("orders"); split: one per role
        # ("orders-relay", "catalog-consumer").
        return self.service == service or self.service.startswith(f"{service}-")


# What one confirmed order with a webhook must show: (what, service, test of the span).
EXPECTED: list[tuple[str, str, Callable[[Span], bool]]] = [
    (
        "gateway /v1 request",
        "gateway",
        lambda s: s.kind == "server" and "/v1/orders" in s.operation,
    ),
    ("orders-api request", "orders", lambda s: s.kind == "server" and "/orders" in s.operation),
    ("orders' outbox relay", "orders", lambda s: s.operation == "publish orders.events"),
    ("catalog's consumer", "catalog", lambda s: s.operation == "orders.events process"),
    ("payments' consumer", "payments", lambda s: s.kind == "consumer"),
    # The payment provider's name is its span's (``POST fakepay`` locally).
    ("the provider call", "payments", lambda s: s.kind == "client" and s.operation[:5] == "POST "),
    ("the webhook delivery", "notifications", lambda s: s.operation == "webhook.deliver"),
]


def spans_of(trace: dict[str, Any]) -> list[Span]:
    processes = {pid: p["serviceName"] for pid, p in trace["processes"].items()}
    spans = []
    for raw in trace["spans"]:
        tags = {t["key"]: t["value"] for t in raw.get("tags", [])}
        parents = [r["spanID"] for r in raw.get("references", []) if r["refType"] == "CHILD_OF"]
        spans.append(
            Span(
                service=processes[raw["processID"]],
                operation=raw["operationName"],
                kind=str(tags.get("span.kind", "internal")),
                span_id=raw["spanID"],
                parent_id=parents[0] if parents else None,
                trace_id=raw["traceID"],
                start=raw["startTime"],
            )
        )
    return spans


def missing(spans: list[Span]) -> list[str]:
    return [
        what
        for what, service, test in EXPECTED
        if not any(s.of(service) and test(s) for s in spans)
    ]


def render_tree(spans: list[Span]) -> str:
    """The trace as an indented service/operation tree (how docs/tracing.md shows it)."""
    ids = {s.span_id for s in spans}
    children: dict[str | None, list[Span]] = {}
    for span in spans:
        parent = span.parent_id if span.parent_id in ids else None
        children.setdefault(parent, []).append(span)
    lines: list[str] = []

    def walk(parent: str | None, depth: int) -> None:
        for span in sorted(children.get(parent, []), key=lambda s: s.start):
            lines.append(f"{'  ' * depth}{span.service}: {span.operation} [{span.kind}]")
            walk(span.span_id, depth + 1)

    walk(None, 0)
    return "\n".join(lines)


async def fetch_trace(trace_id: str) -> list[Span] | None:
    async with httpx.AsyncClient(base_url=JAEGER, timeout=5) as http:
        try:
            answer = await http.get(f"/api/traces/{trace_id}")
        except httpx.TransportError as exc:
            raise AssertionError(f"Jaeger is not reachable at {JAEGER} (make up): {exc!r}") from exc
    if answer.status_code == 404:
        return None
    answer.raise_for_status()
    found = answer.json()["data"]
    return spans_of(found[0]) if found else None


async def test_one_order_is_one_trace_across_every_process(
    tenant: Tenant, receiver: Receiver
) -> None:
    endpoint = ok(
        await create_webhook_endpoint.asyncio_detailed(
            client=tenant.client,
            body=CreateWebhookEndpointRequest(
                url=receiver.url,
                event_types=[WebhookEventType("order.placed")],
                description="trace e2e",
            ),
            idempotency_key=str(uuid.uuid4()),
        ),
        201,
    )
    receiver.secrets.append(endpoint.secret)
    await tenant.product("TRACE-1", 1200, on_hand=5)

    trace_id, caller_span = secrets.token_hex(16), secrets.token_hex(8)
    # A client of its own: only this request carries the test's trace context.
    async with AuthenticatedClient(
        base_url=GATEWAY,
        token=tenant.token,
        headers={"traceparent": f"00-{trace_id}-{caller_span}-01"},
        timeout=httpx.Timeout(30.0),
    ) as traced:
        placed = ok(
            await place_order.asyncio_detailed(
                client=traced, body=order_request(("TRACE-1", 1)), idempotency_key=str(uuid.uuid4())
            ),
            201,
        )
    assert (await settled(tenant, placed.id)).status == OrderStatus.CONFIRMED

    def orphans(spans: list[Span]) -> list[Span]:
        # One tree: every span hangs under another span of the trace, or under the test's call.
        ids = {s.span_id for s in spans} | {caller_span}
        return [s for s in spans if s.parent_id not in ids]

    async def whole() -> list[Span] | None:
        # Each process exports on its own, about once a second: a child may arrive first.
        spans = await fetch_trace(trace_id)
        return spans if spans and not missing(spans) and not orphans(spans) else None

    try:
        spans = await eventually(whole, within=60, every=1.0)
    except AssertionError:
        seen = await fetch_trace(trace_id) or []
        raise AssertionError(
            f"trace {trace_id} lacks {missing(seen)}, orphans {orphans(seen)}; it has:\n"
            + render_tree(seen)
        ) from None
    assert {s.trace_id for s in spans} == {trace_id}
