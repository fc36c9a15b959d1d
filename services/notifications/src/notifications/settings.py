"""Notifications' settings (``ORDO_*`` environment and secret files; see shared.settings).

Read once, by ``notifications.bootstrap`` (which re-exports them) and the Alembic environment.
"""

from __future__ import annotations

from datetime import timedelta

from pydantic import BaseModel, Field, model_validator

from notifications.application.rules import DeliveryRules, EndpointRules
from notifications.domain.retry import PRODUCTION_DELAYS, RetrySchedule
from shared.auth import AuthSettings
from shared.settings import ServiceSettings

__all__ = ["AuthSettings", "DeliverySettings", "NotificationsSettings", "WebhookSettings"]

ORDERS_TOPIC = "orders.events"
PAYMENTS_TOPIC = "payments.events"
CONSUMER_GROUP = "notifications"


class WebhookSettings(BaseModel):
    """What endpoints may be registered.

    ``allow_loopback_http`` lets endpoints (and deliveries) use loopback hosts, over http too;
    unless set explicitly it follows the environment: on for ``local`` and ``test``, off
    elsewhere.
    """

    max_endpoints_per_org: int = Field(default=20, ge=1, le=1000)
    allow_loopback_http: bool = False


class DeliverySettings(BaseModel):
    """How the worker delivers (``ORDO_DELIVERY__*``); tests compress the schedule."""

    timeout_s: float = Field(default=10.0, gt=0, le=60)
    retry_schedule_s: list[float] = Field(
        default_factory=lambda: [d.total_seconds() for d in PRODUCTION_DELAYS], max_length=20
    )
    jitter: float = Field(default=0.2, ge=0, le=0.5)
    lease_s: float = Field(default=60.0, gt=0)
    concurrency: int = Field(default=16, ge=1, le=512)
    per_endpoint_concurrency: int = Field(default=4, ge=1, le=64)
    poll_interval_s: float = Field(default=5.0, gt=0)
    breaker_fail_max: int = Field(default=5, ge=1)
    breaker_reset_s: float = Field(default=60.0, gt=0)
    disable_after_s: float = Field(default=5 * 24 * 3600.0, gt=0)
    retention_s: float = Field(default=30 * 24 * 3600.0, gt=0)
    purge_interval_s: float = Field(default=3600.0, ge=0)

    @model_validator(mode="after")
    def _lease_outlives_the_call(self) -> DeliverySettings:
        if self.lease_s <= self.timeout_s:
            raise ValueError("lease_s must be longer than timeout_s")
        if any(s <= 0 for s in self.retry_schedule_s):
            raise ValueError("retry delays must be positive")
        return self

    def rules(self) -> DeliveryRules:
        """The use cases' view of these settings."""
        return DeliveryRules(
            schedule=RetrySchedule.of_seconds(self.retry_schedule_s, self.jitter),
            lease=timedelta(seconds=self.lease_s),
            disable_after=timedelta(seconds=self.disable_after_s),
            retention=timedelta(seconds=self.retention_s),
        )


class NotificationsSettings(ServiceSettings):
    """Notifications settings (database ``ordo_notifications`` by default)."""

    service_name: str = "notifications"
    http_port: int = 8005
    consumer_health_port: int = 8105
    relay_health_port: int = 8205
    worker_health_port: int = 8305
    orders_topic: str = ORDERS_TOPIC
    payments_topic: str = PAYMENTS_TOPIC
    topic_partitions: int = 6
    consumer_group: str = CONSUMER_GROUP
    auth: AuthSettings = Field(default_factory=AuthSettings)
    webhooks: WebhookSettings = Field(default_factory=WebhookSettings)
    delivery: DeliverySettings = Field(default_factory=DeliverySettings)

    @model_validator(mode="after")
    def _loopback_in_local_runs(self) -> NotificationsSettings:
        if "allow_loopback_http" not in self.webhooks.model_fields_set:
            self.webhooks.allow_loopback_http = self.environment in ("local", "test")
        return self

    def endpoint_rules(self) -> EndpointRules:
        """The use cases' view of the endpoint settings."""
        return EndpointRules(
            max_per_org=self.webhooks.max_endpoints_per_org,
            allow_loopback_http=self.webhooks.allow_loopback_http,
        )
