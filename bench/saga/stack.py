"""The stack under test, as ``make bench-saga`` sees it: tenants, the gateway's limits, idleness.

Tenants are signed up through the gateway for each run (one product with ample stock each) and
log in again when their access token gets old (tokens live 10 minutes; a full run is longer).
``settle`` waits until the stack's own CPU (cpu.py) is back near its idle level, so that every
round starts from the same state: the saga's queues drained, relays and consumers polling.
"""

from __future__ import annotations

import asyncio
import re
import statistics
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cpu
import httpx
import procs

SKU = "BENCH-1"
ORDER_BODY = b'{"currency":"EUR","lines":[{"sku":"BENCH-1","quantity":1}]}'
#: Refresh a token older than this before a phase starts (they live 600 s).
TOKEN_MAX_AGE_S = 240.0


def say(line: str) -> None:
    """Print a progress or result line at once."""
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


# -- tenants ------------------------------------------------------------------------------------


@dataclass
class Tenant:
    """An org signed up for the run, its owner's tokens and preformatted auth header."""

    org_id: str
    email: str
    password: str
    access_token: str
    issued: float = field(default_factory=time.monotonic)

    @property
    def auth(self) -> bytes:
        return f"Authorization: Bearer {self.access_token}\r\n".encode()

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.access_token}"}


async def sign_up(http: httpx.AsyncClient, stock: int) -> Tenant:
    """A new org with one product and ``stock`` of it."""
    tag = uuid.uuid4().hex[:12]
    email, password = f"bench-{tag}@example.com", f"bench password {tag}"
    r = await http.post(
        "/v1/auth/signup",
        json={
            "email": email,
            "password": password,
            "display_name": "Bench",
            "org_name": f"Bench {tag}",
        },
        headers={"Idempotency-Key": str(uuid.uuid4())},
    )
    r.raise_for_status()
    tenant = Tenant(r.json()["org_id"], email, password, r.json()["access_token"])
    r = await http.post(
        "/v1/products",
        json={"sku": SKU, "name": "Bench", "price": {"amount_minor": 100, "currency": "EUR"}},
        headers={**tenant.headers, "Idempotency-Key": str(uuid.uuid4())},
    )
    r.raise_for_status()
    r = await http.put(f"/v1/stock/{SKU}", json={"on_hand": stock}, headers=tenant.headers)
    r.raise_for_status()
    return tenant


async def keep_fresh(http: httpx.AsyncClient, tenants: list[Tenant]) -> None:
    """New access tokens for tenants whose token is getting old: a login, which can be retried
    (a refresh cannot: a retried refresh token counts as reuse and revokes the session)."""
    for tenant in tenants:
        if time.monotonic() - tenant.issued < TOKEN_MAX_AGE_S:
            continue
        try:
            body = await _log_in(http, tenant)
        except httpx.HTTPError as exc:  # the old token may still do: the next round will tell
            say(f"   ! could not log in again ({exc!r}): going on with the old token")
            return
        tenant.access_token, tenant.issued = body["access_token"], time.monotonic()


async def _log_in(http: httpx.AsyncClient, tenant: Tenant, tries: int = 15) -> Any:
    # Other sessions restart the stack's processes: ride out a gateway restart (~10 s).
    credentials = {"email": tenant.email, "password": tenant.password, "org_id": tenant.org_id}
    for attempt in range(tries):
        try:
            r = await http.post("/v1/auth/login", json=credentials)
        except httpx.TransportError:
            if attempt == tries - 1:
                raise
        else:
            if r.status_code < 500 or attempt == tries - 1:
                r.raise_for_status()
                return r.json()
        await asyncio.sleep(2)
    raise AssertionError("unreachable")


# -- the gateway's rate limits --------------------------------------------------------------------

_LIMIT = re.compile(r"^(\d+)/(second|minute|hour)$")
_PER = {"second": 1, "minute": 60, "hour": 3600}


def gateway_limits(root: Path) -> dict[str, float]:
    """Requests/s the running gateway allows per IP and per user (its environment, else the
    defaults of GatewaySettings: 600/minute and 300/minute)."""
    limits = {"per_ip": "600/minute", "per_user": "300/minute"}
    environ: list[bytes] = []
    # The gateway's process: "gateway" in the combined layout, "gateway-api" in the split one.
    for name in ("gateway", "gateway-api"):
        try:
            pid = int((procs.data_dir(root) / "run" / f"{name}.pid").read_text())
            environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
        except (OSError, ValueError):
            continue
        break
    for entry in environ:
        name, _, value = entry.decode(errors="replace").partition("=")
        if name in ("ORDO_RATE_LIMITS__PER_IP", "ORDO_RATE_LIMITS__PER_USER"):
            limits[name.rsplit("__", 1)[1].lower()] = value
    per_second: dict[str, float] = {}
    for key, value in limits.items():
        match = _LIMIT.match(value.strip())
        per_second[key] = int(match.group(1)) / _PER[match.group(2)] if match else float("nan")
    return per_second


def check_limits(root: Path, max_rate: float, tenants: int) -> str:
    """One line saying whether the gateway's per-IP and per-user limits can throttle the load."""
    limits = gateway_limits(root)
    ip, user = limits["per_ip"], limits["per_user"]
    # The GET and POST comparisons (wrk) run far above the open-loop rates: count them too.
    ok = max_rate < ip and max_rate / tenants < user
    verdict = "cannot throttle the open-loop load" if ok else "WILL THROTTLE: raise them"
    return (
        f"gateway limits: per IP {ip:,.0f}/s, per user {user:,.0f}/s x {tenants} tenants; "
        f"highest open-loop rate {max_rate:,.0f}/s: {verdict} (429s are counted per phase)"
    )


# -- idleness -------------------------------------------------------------------------------------


def _settle_rate(used: cpu.Usage) -> float:
    """The stack's ms/s, less the CPU of backends that exited: that is mostly other sessions'
    short test connections (the stack's own are pooled), and it would keep us waiting."""
    return (cpu.stack_ms(used.ms) - used.ms.get(cpu.EXITED, 0.0)) / used.seconds


@dataclass
class Idle:
    """The idle stack's CPU rate (ms/s by label) and the settle threshold derived from it."""

    rate: dict[str, float]

    @property
    def total(self) -> float:
        return cpu.stack_ms(self.rate)

    @property
    def threshold(self) -> float:
        """Stack ms/s (without exited backends) under which the stack counts as idle again."""
        return (self.total - self.rate.get(cpu.EXITED, 0.0)) * 1.25 + 40.0


async def settle(
    accountant: cpu.Accountant, idle: Idle | None, *, window: float = 2.0, give_up_s: float = 120.0
) -> tuple[cpu.Snapshot, float, str]:
    """Wait until the stack's CPU rate over ``window`` s is near idle.

    Without an idle level yet: until two windows in a row are below 40% of a core and within
    15% of each other. Gives up after ``give_up_s`` s with a warning (someone else's load).
    Returns the last snapshot, the seconds waited and the busiest labels of the last busy window.
    """
    started = time.monotonic()
    prev = accountant.snapshot()
    last_rate: float | None = None
    busiest = ""
    while True:
        await asyncio.sleep(window)
        cur = accountant.snapshot()
        used = cpu.usage(prev, cur)
        rate = _settle_rate(used)
        if idle is not None:
            ok = rate <= idle.threshold
        else:
            ok = last_rate is not None and rate < 400 and abs(rate - last_rate) <= 0.15 * last_rate
        waited = time.monotonic() - started
        if ok:
            return cur, waited, busiest
        rates = used.rate()
        top = sorted(
            ((v, k) for k, v in rates.items() if cpu.in_stack(k) and k != cpu.EXITED), reverse=True
        )
        busiest = f"{rate:.0f} ms/s: " + ", ".join(f"{k} {v:.0f}" for v, k in top[:4])
        if waited > give_up_s:
            say(f"  ! the stack did not settle in {give_up_s:.0f} s ({busiest}): going on")
            return cur, waited, busiest
        prev, last_rate = cur, rate


async def measure_idle(accountant: cpu.Accountant, seconds: float, window: float = 2.0) -> Idle:
    """The stack's CPU rate doing nothing: per label, the median over windows of ``window`` s
    (a burst in one window, such as a process restarted by someone else, does not count)."""
    windows: list[dict[str, float]] = []
    prev = accountant.snapshot()
    for _ in range(max(3, round(seconds / window))):
        await asyncio.sleep(window)
        cur = accountant.snapshot()
        used = cpu.usage(prev, cur)
        for warning in used.warnings:
            say(f"   ! {warning}")
        windows.append(used.rate())
        prev = cur
    labels = {label for rates in windows for label in rates if cpu.in_stack(label)}
    return Idle({label: statistics.median(w.get(label, 0.0) for w in windows) for label in labels})
