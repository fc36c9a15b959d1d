"""Settings: loopback webhooks follow the environment; delivery settings stay coherent."""

from __future__ import annotations

from datetime import timedelta

import pytest
from pydantic import ValidationError

from notifications.bootstrap import DeliverySettings, NotificationsSettings, WebhookSettings


def test_loopback_urls_are_allowed_only_in_local_and_test_runs_unless_set() -> None:
    assert NotificationsSettings(environment="local").webhooks.allow_loopback_http is True
    assert NotificationsSettings(environment="test").webhooks.allow_loopback_http is True
    assert NotificationsSettings(environment="production").webhooks.allow_loopback_http is False
    explicit = NotificationsSettings(
        environment="local", webhooks=WebhookSettings(allow_loopback_http=False)
    )
    assert explicit.webhooks.allow_loopback_http is False
    assert (
        NotificationsSettings(environment="staging").endpoint_rules().allow_loopback_http is False
    )


def test_defaults_are_the_production_schedule_and_the_contracts_timeout() -> None:
    settings = NotificationsSettings()
    assert settings.service_name == "notifications"
    assert (settings.http_port, settings.consumer_health_port) == (8005, 8105)
    assert (settings.relay_health_port, settings.worker_health_port) == (8205, 8305)
    assert settings.database.name == "ordo_notifications"
    rules = settings.delivery.rules()
    assert settings.delivery.timeout_s == 10
    assert rules.schedule.max_attempts == 8
    assert rules.lease > timedelta(seconds=settings.delivery.timeout_s)


def test_a_lease_shorter_than_the_timeout_or_a_zero_wait_is_refused() -> None:
    with pytest.raises(ValidationError, match="lease_s"):
        DeliverySettings(timeout_s=10, lease_s=5)
    with pytest.raises(ValidationError, match="positive"):
        DeliverySettings(retry_schedule_s=[1, 0])
