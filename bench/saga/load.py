"""Open-loop order load for ``make bench-saga``, and the orders' outcomes read from Kafka.

``OrderLoad.run`` sends ``POST /v1/orders`` on a fixed schedule (order i at start + i/rate),
whatever the answers: a slow stack does not slow the offered load (no coordinated omission).
Each send records when it was due and when its bytes were written, so the generator's own
lateness is measured, not assumed. ``Terminals`` reads ``orders.events`` from its end and notes
when each order's terminal record (``order.confirmed``/``rejected``/``cancelled``, by the
``ce_type`` header; the key is the order id) arrived: placed -> confirmed latency is that
arrival less the POST's send time, both on this process's monotonic clock.
"""

from __future__ import annotations

import asyncio
import json
import math
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from http1 import Http1Client
from stack import ORDER_BODY, Tenant

TOPIC = "orders.events"
TERMINAL = {
    b"ordo.orders.order.confirmed.v1": "confirmed",
    b"ordo.orders.order.rejected.v1": "rejected",
    b"ordo.orders.order.cancelled.v1": "cancelled",
}
REFUSED = (429, 503)


def quantile(values: list[float], q: float) -> float:
    """The q-quantile (0 < q <= 1) by nearest rank: the smallest value with at least q of the
    values at or below it; nan when empty."""
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


def slow_budget(n: int, q: float = 0.99) -> int:
    """How many of ``n`` values may exceed a bound while their q-quantile stays within it."""
    return n - math.ceil(q * n)


class Terminals:
    """order id -> (terminal status, monotonic arrival) for every terminal record on the topic."""

    def __init__(self) -> None:
        self.seen: dict[str, tuple[str, float]] = {}
        self._consumer: AIOKafkaConsumer | None = None
        self._task: asyncio.Task[None] | None = None

    async def start(self, bootstrap: str) -> None:
        # Assigned partitions and no group: nothing to rebalance or commit, every record seen.
        consumer = AIOKafkaConsumer(
            bootstrap_servers=bootstrap, enable_auto_commit=False, fetch_max_wait_ms=50
        )
        await consumer.start()
        await consumer._client.force_metadata_update()
        partitions = [TopicPartition(TOPIC, p) for p in consumer.partitions_for_topic(TOPIC) or []]
        if not partitions:
            raise SystemExit(f"topic {TOPIC} not found: run `make up`")
        consumer.assign(partitions)
        for tp, offset in (await consumer.end_offsets(partitions)).items():
            consumer.seek(tp, offset)
        self._consumer = consumer
        self._task = asyncio.create_task(self._pump(consumer))

    async def _pump(self, consumer: AIOKafkaConsumer) -> None:
        async for record in consumer:
            for name, value in record.headers:
                if name == "ce_type":
                    status = TERMINAL.get(value)
                    if status is not None and record.key:
                        self.seen.setdefault(record.key.decode(), (status, time.monotonic()))
                    break

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        if self._consumer is not None:
            await self._consumer.stop()


@dataclass(slots=True)
class Send:
    """One scheduled POST: when it was due, written and answered (monotonic s), and its answer:
    an HTTP status, or the exception's class name."""

    due: float
    tenant: int
    sent: float = math.nan
    answered: float = math.nan
    status: int | str = 0
    order_id: str | None = None


@dataclass
class Run:
    """One open-loop run: what was sent; the sends due in the ``lead_in`` s after ``started``
    are not scored (the stack waking from idle), the ``duration`` s after that are."""

    rate: float
    duration: float
    started: float
    lead_in: float = 0.0
    sends: list[Send] = field(default_factory=list)
    ended: float = math.nan
    aborted: str | None = None

    @property
    def scored_from(self) -> float:
        return self.started + self.lead_in

    @property
    def scored(self) -> list[Send]:
        return [s for s in self.sends if s.due >= self.scored_from]

    @property
    def accepted(self) -> list[Send]:
        """The scored sends answered 201."""
        return [s for s in self.scored if s.status == 201 and s.order_id]

    @property
    def all_accepted(self) -> list[Send]:
        """Every send answered 201, lead-in included."""
        return [s for s in self.sends if s.status == 201 and s.order_id]


class OrderLoad:
    """Places orders through the gateway for the run's tenants, round robin."""

    def __init__(
        self,
        client: Http1Client,
        tenants: list[Tenant],
        terminals: Terminals,
        *,
        timeout: float = 10.0,
    ) -> None:
        self.client, self.tenants, self.terminals, self.timeout = (
            client,
            tenants,
            terminals,
            timeout,
        )

    async def run(
        self,
        rate: float,
        duration: float,
        *,
        lead_in: float = 0.0,
        latency_bound_ms: float | None = None,
    ) -> Run:
        """POSTs at ``rate``/s for ``lead_in`` + ``duration`` s; waits for every answer (bounded
        by the timeout). Only the sends after the lead-in are scored.

        With ``latency_bound_ms``, stops sending as soon as the run cannot pass any more (an
        answer other than 201, a non-confirmed outcome, or more orders past the bound than the
        p99 allows): a capacity step that is lost does not pile up a backlog for the next.
        """
        total = round(rate * lead_in) + max(1, round(rate * duration))
        budget = slow_budget(max(1, round(rate * duration)))
        run = Run(rate, duration, time.monotonic(), lead_in)
        tasks: set[asyncio.Task[None]] = set()
        next_check = run.started + 0.5
        for i in range(total):
            due = run.started + i / rate
            if (delay := due - time.monotonic()) > 0:
                await asyncio.sleep(delay)
            send = Send(due, i % len(self.tenants))
            run.sends.append(send)
            task = asyncio.create_task(self._place(send))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
            if latency_bound_ms is not None and time.monotonic() >= next_check:
                next_check += 0.5
                run.aborted = self.doomed(run.scored, latency_bound_ms / 1000, budget)
                if run.aborted:
                    break
        run.ended = time.monotonic()
        if tasks:
            await asyncio.wait(tasks, timeout=self.timeout + 5)
        return run

    async def _place(self, send: Send) -> None:
        tenant = self.tenants[send.tenant]
        headers = tenant.auth + (
            b"Content-Type: application/json\r\nIdempotency-Key: "
            + uuid.uuid4().bytes.hex().encode()
            + b"\r\n"
        )
        try:
            response = await self.client.request(
                "POST", "/v1/orders", headers=headers, body=ORDER_BODY, timeout_s=self.timeout
            )
        except (OSError, TimeoutError) as exc:
            send.status, send.answered = type(exc).__name__, time.monotonic()
            return
        send.sent, send.answered, send.status = (
            response.sent_at,
            response.answered_at,
            response.status,
        )
        if response.status == 201:
            send.order_id = json.loads(response.body)["id"]

    def doomed(self, sends: list[Send], bound_s: float, budget: int) -> str | None:
        """Why these sends can no longer all be confirmed with p99 within ``bound_s``, if so."""
        now, seen, slow = time.monotonic(), self.terminals.seen, 0
        for s in sends:
            if s.status not in (0, 201):
                return f"answer {s.status}"
            outcome = seen.get(s.order_id) if s.order_id else None
            if outcome is not None and outcome[0] != "confirmed":
                return f"an order {outcome[0]}"
            done_at = outcome[1] if outcome else now
            if not math.isnan(s.sent) and done_at - s.sent > bound_s:
                slow += 1
        return f"{slow} orders past the latency bound" if slow > budget else None

    async def wait_outcomes(
        self, run: Run, within_s: float, *, latency_bound_ms: float | None = None
    ) -> float:
        """Wait until every accepted order of ``run`` has a terminal record, at most ``within_s``
        s (or until the run is doomed, with ``latency_bound_ms``); the seconds waited."""
        started = time.monotonic()
        budget = slow_budget(len(run.scored))
        waiting = [s.order_id for s in run.all_accepted]
        while time.monotonic() - started < within_s:
            waiting = [o for o in waiting if o not in self.terminals.seen]
            if not waiting:
                break
            if latency_bound_ms is not None and not run.aborted:
                run.aborted = self.doomed(run.scored, latency_bound_ms / 1000, budget)
            if run.aborted:
                break
            await asyncio.sleep(0.1)
        return time.monotonic() - started

    async def check_missing(self, run: Run, *, concurrency: int = 8) -> dict[str, int]:
        """GET every accepted order of ``run`` with no terminal record yet (the fallback when
        the topic did not show it): terminal ones are added to ``terminals`` (arrival from
        their ``confirmed_at``/``closed_at``), the others counted by status: never terminal."""
        missing = [s for s in run.accepted if s.order_id not in self.terminals.seen]
        wall_minus_mono = time.time() - time.monotonic()
        pending: dict[str, int] = {}
        slots = asyncio.Semaphore(concurrency)

        async def check(send: Send) -> None:
            async with slots:
                body = await self._read_order(send)
            status = str(body.get("status"))
            at = body.get("confirmed_at") or body.get("closed_at")
            if status in TERMINAL.values() and at and send.order_id:
                arrival = datetime.fromisoformat(at).timestamp() - wall_minus_mono
                self.terminals.seen.setdefault(send.order_id, (status, arrival))
            else:
                pending[status] = pending.get(status, 0) + 1

        await asyncio.gather(*(check(s) for s in missing))
        return pending

    async def _read_order(self, send: Send, tries: int = 5) -> dict[str, Any]:
        """GET the order; a few tries, as another session may be restarting the gateway."""
        body: dict[str, Any] = {}
        for _ in range(tries):
            try:
                r = await self.client.request(
                    "GET",
                    f"/v1/orders/{send.order_id}",
                    headers=self.tenants[send.tenant].auth,
                    timeout_s=self.timeout,
                )
            except (OSError, TimeoutError) as exc:
                body = {"status": type(exc).__name__}
            else:
                if r.status == 200:
                    return dict(json.loads(r.body))
                body = {"status": f"HTTP {r.status}"}
                if r.status < 500:
                    return body
            await asyncio.sleep(1)
        return body
