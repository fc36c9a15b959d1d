"""Saga load through the public /v1 API, and the invariants checked once it has settled.

Shared by the fault suite (tests/faults/run.py) and the soak (bench/soak/run.py). Everything
goes through the gateway as a client would, except the provider's record of authorisations,
read from the fake provider itself: that is the money side the invariants are about.
"""

from __future__ import annotations

import asyncio
import random
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import httpx

GATEWAY = "http://127.0.0.1:8000"
PROVIDER = "http://127.0.0.1:8090"
TERMINAL = frozenset({"confirmed", "rejected", "cancelled"})
#: Statuses after which a request with the same Idempotency-Key may succeed later.
RETRIABLE = frozenset({429, 500, 502, 503, 504})


@dataclass
class Tenant:
    """An org signed up for one run: its owner's token, its SKUs and their starting stock."""

    org_id: str
    token: str
    stock: dict[str, int]

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


async def _call(
    http: httpx.AsyncClient, method: str, url: str, *, tries: int = 20, **kwargs: Any
) -> httpx.Response:
    """A setup call, retried while the stack is busy or restarting (same Idempotency-Key)."""
    for attempt in range(tries):
        try:
            r = await http.request(method, url, **kwargs)
        except httpx.TransportError:
            r = None
        if r is not None and r.status_code not in RETRIABLE:
            r.raise_for_status()
            return r
        await asyncio.sleep(min(0.5 * (attempt + 1), 3.0))
    raise RuntimeError(f"{method} {url} kept failing")


async def sign_up(http: httpx.AsyncClient, skus: int, on_hand: int) -> Tenant:
    """A new org with ``skus`` products, ``on_hand`` units each (prices 1.00 to n.00 EUR)."""
    tag = uuid.uuid4().hex[:12]
    r = await _call(
        http,
        "POST",
        "/v1/auth/signup",
        json={
            "email": f"faults-{tag}@example.com",
            "password": f"faults password {tag}",
            "display_name": "Faults",
            "org_name": f"Faults {tag}",
        },
        headers={"Idempotency-Key": f"signup-{tag}"},
    )
    body = r.json()
    tenant = Tenant(body["org_id"], body["access_token"], {})
    for n in range(1, skus + 1):
        sku = f"F{tag[:6].upper()}-{n}"
        await _call(
            http,
            "POST",
            "/v1/products",
            json={"sku": sku, "name": sku, "price": {"amount_minor": 100 * n, "currency": "EUR"}},
            headers={**tenant.headers, "Idempotency-Key": f"product-{sku}"},
        )
        await _call(
            http, "PUT", f"/v1/stock/{sku}", json={"on_hand": on_hand}, headers=tenant.headers
        )
        tenant.stock[sku] = on_hand
    return tenant


@dataclass
class Placed:
    """An order the API accepted (201): what it asked for and when."""

    tenant: Tenant
    lines: dict[str, int]
    at: float
    cancel: bool


@dataclass
class Load:
    """Orders placed at ``rate`` per second (open loop) over ``tenants``; a share cancelled.

    A request whose outcome is unknown (timeout, 5xx, refused connection) is retried with the
    same Idempotency-Key for a while, as a careful client would: only a 201 makes an order
    accepted, and every accepted order must end terminal.
    """

    http: httpx.AsyncClient
    tenants: list[Tenant]
    rate: float
    cancel_share: float = 0.1
    #: Placements in flight at most; one more is skipped (counted as ``client_busy``): an open
    #: loop against a stack that refuses everything would otherwise pile up retries until the
    #: client itself (httpx's pool) spends its time queueing.
    max_in_flight: int = 64
    accepted: dict[str, Placed] = field(default_factory=dict)
    answers: Counter[str] = field(default_factory=Counter)
    unanswered: int = 0
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)

    async def run(self, seconds: float) -> None:
        """Place orders for ``seconds``; the requests still in flight finish in :meth:`wait`."""
        start = time.monotonic()
        n = 0
        while (now := time.monotonic()) - start < seconds:
            due = start + n / self.rate
            if due > now:
                await asyncio.sleep(due - now)
            n += 1
            if len(self._tasks) >= self.max_in_flight:
                self.answers["client_busy"] += 1
                continue
            task = asyncio.create_task(self._place(random.choice(self.tenants)))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def wait(self) -> None:
        """Let every placement (and its retries, and its cancel) finish."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def _place(self, tenant: Tenant) -> None:
        skus = random.sample(sorted(tenant.stock), k=min(len(tenant.stock), random.randint(1, 2)))
        lines = {sku: random.randint(1, 3) for sku in skus}
        body = {"currency": "EUR", "lines": [{"sku": s, "quantity": q} for s, q in lines.items()]}
        headers = {**tenant.headers, "Idempotency-Key": str(uuid.uuid4())}
        at = time.monotonic()
        for attempt in range(8):
            try:
                r = await self.http.post("/v1/orders", json=body, headers=headers)
            except httpx.TransportError as exc:
                self.answers[type(exc).__name__] += 1
            else:
                self.answers[str(r.status_code)] += 1
                if r.status_code == 201:
                    cancel = random.random() < self.cancel_share
                    self.accepted[r.json()["id"]] = Placed(tenant, lines, at, cancel)
                    if cancel:
                        await self._cancel(tenant, r.json()["id"])
                    return
                if r.status_code not in RETRIABLE:
                    return
            await asyncio.sleep(min(0.25 * 2**attempt, 4.0))
        self.unanswered += 1

    async def _cancel(self, tenant: Tenant, order_id: str) -> None:
        await asyncio.sleep(random.uniform(0.0, 0.3))
        for attempt in range(8):
            try:
                r = await self.http.post(f"/v1/orders/{order_id}/cancel", headers=tenant.headers)
            except httpx.TransportError:
                r = None
            # 409: already terminal (confirmed or rejected): nothing to cancel.
            if r is not None and r.status_code not in RETRIABLE:
                return
            await asyncio.sleep(min(0.25 * 2**attempt, 4.0))


async def order_statuses(http: httpx.AsyncClient, tenant: Tenant) -> dict[str, dict[str, Any]]:
    """Every order of ``tenant`` as the API lists it, by id."""
    found: dict[str, dict[str, Any]] = {}
    cursor: str | None = None
    while True:
        params: dict[str, Any] = {"limit": 100}
        if cursor:
            params["cursor"] = cursor
        page = (
            await _call(http, "GET", "/v1/orders", params=params, headers=tenant.headers)
        ).json()
        found.update({o["id"]: o for o in page["items"]})
        cursor = page.get("next_cursor")
        if not cursor:
            return found


@dataclass
class Verdict:
    """The invariants after a run: each count must be zero (``stock_bad`` counts SKUs)."""

    statuses: Counter[str]
    not_terminal: int
    lost: int
    stock_bad: int
    double_auth: int
    held_on_closed: int
    settle_s: float

    @property
    def ok(self) -> bool:
        return (
            not (self.not_terminal or self.lost or self.stock_bad or self.double_auth)
            and not self.held_on_closed
        )

    def line(self) -> str:
        s = self.statuses
        return (
            f"confirmed={s['confirmed']} rejected={s['rejected']} cancelled={s['cancelled']} "
            f"not_terminal={self.not_terminal} lost={self.lost} stock_bad={self.stock_bad} "
            f"double_auth={self.double_auth} held_on_cancelled={self.held_on_closed} "
            f"settle_s={self.settle_s:.0f}"
        )


async def _settled_orders(
    http: httpx.AsyncClient, load: Load, deadline: float
) -> dict[str, dict[str, Any]]:
    """Poll the tenants' orders until every accepted one is terminal or ``deadline`` passes."""
    while True:
        seen: dict[str, dict[str, Any]] = {}
        for tenant in load.tenants:
            seen.update(await order_statuses(http, tenant))
        accepted = all(i in seen for i in load.accepted)
        if accepted and all(o["status"] in TERMINAL for o in seen.values()):
            return seen
        if time.monotonic() > deadline:
            return seen
        await asyncio.sleep(2.0)


async def _authorizations(provider: httpx.AsyncClient, order_id: str) -> list[dict[str, Any]]:
    r = await _call(provider, "GET", "/v1/authorizations", params={"reference": order_id})
    items: list[dict[str, Any]] = r.json()["items"]
    return items


async def _money(
    provider: httpx.AsyncClient, orders: dict[str, dict[str, Any]], deadline: float
) -> tuple[int, int]:
    """(orders with two or more authorisations, closed orders still holding one), polled
    until nothing is held on a closed order or ``deadline`` passes (voids run behind)."""
    while True:
        double = held = 0
        for order_id, order in orders.items():
            auths = [
                a for a in await _authorizations(provider, order_id) if a["status"] != "declined"
            ]
            double += len(auths) > 1
            closed = order.get("status") in ("cancelled", "rejected")
            held += closed and any(a["status"] == "authorized" for a in auths)
        if not held or time.monotonic() > deadline:
            return double, held
        await asyncio.sleep(3.0)


async def _stock_bad(
    http: httpx.AsyncClient, load: Load, orders: dict[str, Any], deadline: float
) -> int:
    """SKUs whose levels break on_hand = available + reserved, hold a reservation after every
    order ended, or whose on_hand is not the start minus what the confirmed orders took (polled
    until none or ``deadline``: catalog commits a confirmed order's reservation behind it).
    Every order the API lists counts: one placed by a request whose answer was lost (a 504)
    takes stock as any other."""
    taken: Counter[str] = Counter()
    for order in orders.values():
        if order.get("status") == "confirmed":
            for line in order["lines"]:
                taken[line["sku"]] += line["quantity"]
    while True:
        bad = 0
        for tenant in load.tenants:
            for sku, start in tenant.stock.items():
                r = await _call(http, "GET", f"/v1/stock/{sku}", headers=tenant.headers)
                level = r.json()
                conserved = level["on_hand"] == level["available"] + level["reserved"]
                expected = start - taken[sku]
                bad += not (conserved and level["reserved"] == 0 and level["on_hand"] == expected)
        if not bad or time.monotonic() > deadline:
            return bad
        await asyncio.sleep(2.0)


async def verify(http: httpx.AsyncClient, load: Load, *, settle_s: float = 120.0) -> Verdict:
    """Wait (bounded) for the orders to settle, then check every invariant over every order
    the tenants have (those whose placement went unanswered too)."""
    started = time.monotonic()
    orders = await _settled_orders(http, load, started + settle_s)
    settled = time.monotonic() - started
    statuses = Counter(o["status"] for o in orders.values())
    not_terminal = sum(o["status"] not in TERMINAL for o in orders.values())
    async with httpx.AsyncClient(base_url=PROVIDER, timeout=10.0) as provider:
        double, held = await _money(provider, orders, time.monotonic() + settle_s)
    return Verdict(
        statuses=statuses,
        not_terminal=not_terminal,
        lost=sum(i not in orders for i in load.accepted),
        stock_bad=await _stock_bad(http, load, orders, time.monotonic() + 30.0),
        double_auth=double,
        held_on_closed=held,
        settle_s=settled,
    )
