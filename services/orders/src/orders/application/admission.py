"""Saga backpressure: whether orders-api takes a new order now (ARCHITECTURE invariant 10).

Placing an order is cheap; the saga behind it is not. When the saga falls behind (orders wait
for their stock step, or orders' own outbox is not being published), taking more orders only
makes every accepted order wait longer. So ``POST /orders`` is refused early, with 503
``orders.overloaded`` and ``Retry-After``, before anything is stored or the Idempotency-Key is
claimed, until the backlog has drained below a lower bound (hysteresis, so intake does not
flap at the threshold).

This module is the decision only: what a measurement is, and what to do about it. Measuring
(a query every fraction of a second, not one per request) is an adapter's job.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Protocol

from shared.errors import DependencyUnavailableError

__all__ = [
    "ALWAYS_ADMIT",
    "Admission",
    "AdmissionDecision",
    "AdmissionPolicy",
    "OrdersOverloadedError",
    "SagaLoad",
    "decide",
]

SAGA_LAG = "saga_lag"
OUTBOX_AGE = "outbox_age"


class OrdersOverloadedError(DependencyUnavailableError):
    """The saga is behind: no new order is taken for now (503 with ``Retry-After``)."""

    code = "orders.overloaded"
    default_message = "Orders are not being taken right now; retry after the delay given."


@dataclass(frozen=True, slots=True)
class SagaLoad:
    """How far behind the saga is, in seconds (0 when nothing waits).

    Attributes:
        saga_lag_s: how long the orders waiting for their stock step have waited (the
            ``quorum``-th oldest of them, so one stuck order does not stop intake).
        outbox_age_s: how long orders' unpublished outbox rows have waited (likewise).
    """

    saga_lag_s: float
    outbox_age_s: float


@dataclass(frozen=True, slots=True)
class AdmissionPolicy:
    """When to stop and restart taking orders.

    Attributes:
        enabled: False takes every order, whatever the load.
        max_saga_lag_s: stop when ``saga_lag_s`` is above it.
        max_outbox_age_s: stop when ``outbox_age_s`` is above it.
        resume_ratio: once stopped, restart only when every signal is below its maximum times
            this (0 < ratio <= 1).
        retry_after_s: what refused callers are told to wait.
    """

    enabled: bool = True
    max_saga_lag_s: float = 0.5
    max_outbox_age_s: float = 0.5
    resume_ratio: float = 0.5
    retry_after_s: float = 1.0

    def __post_init__(self) -> None:
        if self.max_saga_lag_s <= 0 or self.max_outbox_age_s <= 0 or self.retry_after_s <= 0:
            raise ValueError("admission thresholds and retry_after_s must be positive")
        if not 0 < self.resume_ratio <= 1:
            raise ValueError("resume_ratio must be in (0, 1]")


@dataclass(frozen=True, slots=True)
class AdmissionDecision:
    """Take new orders (``admit``), or refuse them for ``reason`` (``saga_lag``, ``outbox_age``)."""

    admit: bool
    reason: str | None = None


ADMIT = AdmissionDecision(admit=True)


def decide(
    policy: AdmissionPolicy, load: SagaLoad | None, previous: AdmissionDecision = ADMIT
) -> AdmissionDecision:
    """Decide from the latest measurement; ``previous`` is the decision in force until now.

    No measurement (none yet, or too old to trust) admits: refusing needs evidence, and a
    database that cannot be measured refuses the order by itself.
    """
    if not policy.enabled or load is None:
        return ADMIT
    scale = 1.0 if previous.admit else policy.resume_ratio
    if load.outbox_age_s > policy.max_outbox_age_s * scale:
        return AdmissionDecision(admit=False, reason=OUTBOX_AGE)
    if load.saga_lag_s > policy.max_saga_lag_s * scale:
        return AdmissionDecision(admit=False, reason=SAGA_LAG)
    return ADMIT


class Admission(Protocol):
    """Asked by ``PlaceOrder`` before it touches the database."""

    async def check(self, org_id: uuid.UUID | None = None) -> None:
        """Return if a new order (of ``org_id``) may be placed now; raise
        ``OrdersOverloadedError`` if not. The feature flag ``orders.saga-backpressure``, off for
        an org, takes every order of it (docs/flags.md)."""
        ...


class _AlwaysAdmit:
    async def check(self, org_id: uuid.UUID | None = None) -> None:
        return None


ALWAYS_ADMIT: Admission = _AlwaysAdmit()
"""Takes every order (unit tests, and wirings without backpressure)."""
