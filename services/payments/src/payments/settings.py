"""Payments' settings: ``ORDO_*`` environment variables and secret files (shared.settings).

Read once, by the entrypoints, through :mod:`payments.bootstrap`; tests compress the timeouts,
backoffs and leases to milliseconds.
"""

from __future__ import annotations

from pydantic import BaseModel, Field, model_validator

from payments.domain.schedule import RetrySchedule
from shared.auth import AuthSettings
from shared.settings import ServiceSettings

__all__ = [
    "AuthSettings",
    "BackoffSettings",
    "PaymentsSettings",
    "ProviderSettings",
    "WorkerSettings",
]

ORDERS_TOPIC = "orders.events"
CONSUMER_GROUP = "payments"


class ProviderSettings(BaseModel):
    """The external payment provider and how patiently one run calls it."""

    name: str = Field(default="fakepay", min_length=1, max_length=64)
    base_url: str = "http://127.0.0.1:8090"
    card_token: str | None = Field(
        default=None,
        description="sent with every authorisation (the saga carries no payment method yet)",
    )
    call_timeout_s: float = Field(default=2.0, gt=0, description="deadline of one HTTP call")
    connect_timeout_s: float = Field(default=1.0, gt=0)
    retry_attempts: int = Field(default=3, ge=1, le=10, description="calls per run at most")
    retry_initial_delay_s: float = Field(default=0.05, ge=0)
    retry_max_delay_s: float = Field(default=0.5, ge=0)
    retry_budget_s: float = Field(default=3.0, gt=0, description="no new call after this")
    breaker_fail_max: int = Field(default=5, ge=1)
    breaker_reset_timeout_s: float = Field(default=10.0, gt=0)

    def worst_run_s(self) -> float:
        """The longest one run can take (budget, then one last call to its deadline)."""
        return self.retry_budget_s + self.call_timeout_s + self.retry_max_delay_s


class BackoffSettings(BaseModel):
    """When a postponed payment is tried again (each postponement in a row waits longer)."""

    initial_delay_s: float = Field(default=1.0, gt=0)
    multiplier: float = Field(default=2.0, ge=1)
    max_delay_s: float = Field(default=60.0, gt=0)
    jitter: float = Field(default=0.5, ge=0, le=1)

    def schedule(self) -> RetrySchedule:
        """The domain's schedule."""
        return RetrySchedule(self.initial_delay_s, self.multiplier, self.max_delay_s, self.jitter)


class WorkerSettings(BaseModel):
    """The worker's capacity, polling fallback and lease."""

    concurrency: int = Field(default=64, ge=1, le=1000, description="payments in flight")
    poll_interval_s: float = Field(
        default=5.0, gt=0, description="fallback when NOTIFY is lost (due times are tracked)"
    )
    lease_s: float = Field(default=30.0, gt=0, description="a claim's lease")
    measure_interval_s: float = Field(
        default=15.0,
        gt=0,
        description="how often the payments of cancelled orders still voiding are measured",
    )


class PaymentsSettings(ServiceSettings):
    """Payments settings (database ``ordo_payments`` by default)."""

    service_name: str = "payments"
    http_port: int = 8004
    consumer_health_port: int = 8104
    relay_health_port: int = 8204
    worker_health_port: int = 8304
    orders_topic: str = ORDERS_TOPIC
    orders_partitions: int = 6
    consumer_group: str = CONSUMER_GROUP
    auth: AuthSettings = AuthSettings()
    provider: ProviderSettings = ProviderSettings()
    backoff: BackoffSettings = BackoffSettings()
    worker: WorkerSettings = WorkerSettings()

    @model_validator(mode="after")
    def _lease_outlives_a_run(self) -> PaymentsSettings:
        # A lease shorter than a run would let a second worker start the same payment while
        # the first is still calling (harmless at the provider thanks to the key, but wasteful).
        if self.worker.lease_s <= self.provider.worst_run_s():
            raise ValueError(
                f"worker.lease_s ({self.worker.lease_s}) must exceed the longest provider run "
                f"({self.provider.worst_run_s():g}s)"
            )
        if self.backoff.max_delay_s < self.backoff.initial_delay_s:
            raise ValueError("backoff.max_delay_s must be >= backoff.initial_delay_s")
        return self
