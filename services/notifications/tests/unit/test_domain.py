"""The domain on its own: URL rules, the retry schedule, a delivery's life, an endpoint's."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from notifications.domain.delivery import Attempt, Delivery
from notifications.domain.endpoint import WebhookEndpoint
from notifications.domain.errors import InvalidEndpointError
from notifications.domain.events import WebhookDeliveryFailed, WebhookDeliverySucceeded
from notifications.domain.retry import PRODUCTION_DELAYS, RetrySchedule
from notifications.domain.urls import address_allowed, check_endpoint_url
from notifications.domain.values import (
    AttemptError,
    DeliveryStatus,
    SigningSecret,
    WebhookEventType,
)

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    "url",
    [
        "https://hooks.example.com/ordo",
        "https://hooks.example.com:8443/a/b?x=1",
        "https://93.184.216.34/hook",
        "https://[2606:2800:220:1:248:1893:25c8:1946]/hook",
    ],
)
def test_public_https_urls_are_accepted(url: str) -> None:
    assert check_endpoint_url(url, allow_loopback_http=False) == url


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("http://hooks.example.com/ordo", "https"),
        ("ftp://hooks.example.com/ordo", "https"),
        ("https://user:pass@hooks.example.com/", "credentials"),
        ("https://token@hooks.example.com/", "credentials"),
        ("https://hooks.example.com/#frag", "fragment"),
        ("https:///path-only", "host"),
        ("https://hooks.example.com:99999/", "valid URL"),
        ("https://hooks.example.com/" + "a" * 2048, "2048"),
        ("https://hooks.example.com/a b", "spaces"),
        ("https://hooks.example.com/\n", "spaces"),
        ("https://bücher.example/", "ASCII"),
        ("https://intranet/hook", "fully qualified"),
        ("https://0x7f.0.0.1/hook", "valid name"),
        ("https://127.1/hook", "valid name"),
        ("https://2130706433/hook", "fully qualified"),
        ("https://10.0.0.8/hook", "private"),
        ("https://192.168.1.1/hook", "private"),
        ("https://169.254.169.254/latest/meta-data", "private"),
        ("https://[fd00::1]/hook", "private"),
        ("https://0.0.0.0/hook", "private"),
        ("https://127.0.0.1/hook", "loopback"),
        ("http://localhost:9000/hook", "loopback"),
        ("https://[::1]/hook", "loopback"),
    ],
)
def test_unsafe_urls_are_refused(url: str, why: str) -> None:
    with pytest.raises(InvalidEndpointError) as caught:
        check_endpoint_url(url, allow_loopback_http=False)
    assert why in caught.value.message
    assert [e.path for e in caught.value.errors] == ["body.url"]


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:9000/hook", "http://localhost/hook", "https://[::1]:8443/x"]
)
def test_loopback_urls_only_where_allowed(url: str) -> None:
    assert check_endpoint_url(url, allow_loopback_http=True) == url


def test_loopback_permission_does_not_open_private_networks_or_http_elsewhere() -> None:
    for url in ("http://hooks.example.com/", "https://10.1.2.3/", "http://192.168.0.1/"):
        with pytest.raises(InvalidEndpointError):
            check_endpoint_url(url, allow_loopback_http=True)


@pytest.mark.parametrize(
    ("address", "loopback_ok", "allowed"),
    [
        ("93.184.216.34", False, True),
        ("10.0.0.1", True, False),
        ("172.16.5.4", True, False),
        ("169.254.169.254", True, False),
        ("127.0.0.1", False, False),
        ("127.0.0.1", True, True),
        ("::1", True, True),
        ("::ffff:10.0.0.1", True, False),
        ("::ffff:127.0.0.1", True, True),
        ("224.0.0.1", True, False),
        ("not-an-ip", True, False),
    ],
)
def test_which_resolved_addresses_a_delivery_may_reach(
    address: str, loopback_ok: bool, allowed: bool
) -> None:
    assert address_allowed(address, allow_loopback=loopback_ok) is allowed


def test_the_production_schedule_spans_about_a_day_in_eight_attempts() -> None:
    schedule = RetrySchedule()
    assert schedule.delays == PRODUCTION_DELAYS
    assert schedule.max_attempts == 8
    assert [d.total_seconds() for d in schedule.delays] == [5, 300, 1800, 7200, 18000, 36000, 36000]
    total = sum(schedule.delays, timedelta())
    assert timedelta(hours=27) < total < timedelta(hours=28)


def test_each_wait_grows_and_jitter_stays_within_its_bounds() -> None:
    schedule = RetrySchedule()
    waits = [schedule.delay_after(n, 0.5) for n in range(1, schedule.max_attempts)]
    assert waits == list(PRODUCTION_DELAYS)
    assert all(a <= b for a, b in zip(waits, waits[1:], strict=False))
    for n, base in enumerate(PRODUCTION_DELAYS, start=1):
        assert schedule.delay_after(n, 0.0) == base * 0.8
        assert schedule.delay_after(n, 1.0) == base * 1.2
        for draw in (0.1, 0.37, 0.9):
            assert base * 0.8 <= schedule.delay_after(n, draw) <= base * 1.2
    with pytest.raises(ValueError, match="no retry"):
        schedule.delay_after(8, 0.5)


def test_a_schedule_refuses_nonsense() -> None:
    with pytest.raises(ValueError, match="jitter"):
        RetrySchedule(jitter=0.9)
    with pytest.raises(ValueError, match="positive"):
        RetrySchedule.of_seconds([1, 0])
    assert RetrySchedule.of_seconds([]).max_attempts == 1


def _delivery() -> Delivery:
    return Delivery.schedule(
        id=uuid.uuid4(),
        org_id=uuid.uuid4(),
        endpoint_id=uuid.uuid4(),
        event_id=uuid.uuid4(),
        event_type=WebhookEventType.ORDER_PLACED,
        body="{}",
        now=NOW,
    )


def _attempt(
    n: int, at: datetime, status: int | None, error: AttemptError | None = None
) -> Attempt:
    return Attempt.of(
        number=n,
        at=at,
        response_status=status,
        duration_ms=12,
        error=error if status is not None or error else AttemptError.TIMEOUT,
    )


SHORT = RetrySchedule.of_seconds([10, 20], jitter=0.2)


def test_a_delivery_succeeds_on_a_2xx() -> None:
    delivery = _delivery()
    assert (delivery.status, delivery.next_attempt_at) == (DeliveryStatus.PENDING, NOW)
    delivery.record(_attempt(1, NOW, 204), schedule=SHORT, draw=0.5)
    assert delivery.status is DeliveryStatus.SUCCEEDED
    assert (delivery.next_attempt_at, delivery.delivered_at) == (None, NOW)
    [event] = delivery.pull_events()
    assert isinstance(event, WebhookDeliverySucceeded)
    assert (event.attempts, event.response_status) == (1, 204)


def test_failures_retry_on_schedule_then_the_delivery_dies() -> None:
    delivery = _delivery()
    delivery.record(_attempt(1, NOW, 500), schedule=SHORT, draw=0.0)
    assert delivery.status is DeliveryStatus.RETRYING
    assert delivery.next_attempt_at == NOW + timedelta(seconds=8)
    assert delivery.pull_events() == []
    second = NOW + timedelta(seconds=8)
    delivery.record(_attempt(2, second, None), schedule=SHORT, draw=1.0)
    assert delivery.next_attempt_at == second + timedelta(seconds=24)
    third = second + timedelta(seconds=24)
    delivery.record(_attempt(3, third, 503), schedule=SHORT, draw=0.5)
    assert (delivery.status, delivery.next_attempt_at) == (DeliveryStatus.FAILED, None)
    [event] = delivery.pull_events()
    assert isinstance(event, WebhookDeliveryFailed)
    assert (event.attempts, event.last_response_status, event.last_error) == (
        3,
        503,
        AttemptError.HTTP_STATUS,
    )
    assert [a.error for a in delivery.attempts] == [
        AttemptError.HTTP_STATUS,
        AttemptError.TIMEOUT,
        AttemptError.HTTP_STATUS,
    ]
    with pytest.raises(ValueError, match="no more attempts"):
        delivery.record(_attempt(4, third, 200), schedule=SHORT, draw=0.5)


def test_410_gone_ends_the_delivery_at_once() -> None:
    delivery = _delivery()
    delivery.record(_attempt(1, NOW, 410), schedule=SHORT, draw=0.5)
    assert delivery.status is DeliveryStatus.FAILED
    [event] = delivery.pull_events()
    assert isinstance(event, WebhookDeliveryFailed)
    assert (event.last_response_status, event.last_error) == (410, AttemptError.HTTP_STATUS)


def test_an_open_circuit_counts_as_an_attempt_and_waits_for_the_circuit() -> None:
    delivery = _delivery()
    closes = NOW + timedelta(seconds=60)
    attempt = Attempt.of(
        number=1, at=NOW, response_status=None, duration_ms=0, error=AttemptError.CIRCUIT_OPEN
    )
    delivery.record(attempt, schedule=SHORT, draw=0.5, not_before=closes)
    assert (delivery.status, delivery.next_attempt_at) == (DeliveryStatus.RETRYING, closes)
    assert delivery.attempt_count == 1


def test_attempts_are_numbered_in_order_and_3xx_is_a_failure() -> None:
    delivery = _delivery()
    with pytest.raises(ValueError, match="follows"):
        delivery.record(_attempt(2, NOW, 200), schedule=SHORT, draw=0.5)
    redirect = _attempt(1, NOW, 302)
    assert (redirect.succeeded, redirect.error) == (False, AttemptError.HTTP_STATUS)
    with pytest.raises(ValueError, match="needs an error"):
        Attempt.of(number=1, at=NOW, response_status=None, duration_ms=0, error=None)


def test_abandoning_ends_open_deliveries_only_without_an_event() -> None:
    delivery = _delivery()
    assert delivery.abandon(NOW) is True
    assert (delivery.status, delivery.next_attempt_at) == (DeliveryStatus.FAILED, None)
    assert delivery.pull_events() == []
    assert delivery.abandon(NOW) is False


def _endpoint(**overrides: object) -> WebhookEndpoint:
    fields: dict[str, object] = {
        "id": uuid.uuid4(),
        "org_id": uuid.uuid4(),
        "url": "https://hooks.example.com/x",
        "event_types": ["order.placed", "payment.failed"],
        "secret": SigningSecret.generate(lambda n: b"k" * n),
        "now": NOW,
        "allow_loopback_http": False,
    }
    fields.update(overrides)
    return WebhookEndpoint.register(**fields)  # type: ignore[arg-type]


def test_an_endpoint_is_registered_enabled_and_validated() -> None:
    endpoint = _endpoint()
    assert endpoint.deliverable
    assert endpoint.subscribes_to(WebhookEventType.PAYMENT_FAILED)
    assert not endpoint.subscribes_to(WebhookEventType.ORDER_CONFIRMED)
    for bad in ([], ["order.placed", "order.placed"], ["order.shipped"]):
        with pytest.raises(InvalidEndpointError):
            _endpoint(event_types=bad)
    with pytest.raises(InvalidEndpointError):
        _endpoint(description="x" * 501)


def test_deleting_an_endpoint_erases_its_secret() -> None:
    endpoint = _endpoint()
    endpoint.delete(NOW)
    assert (endpoint.deleted, endpoint.secret, endpoint.deliverable) == (True, None, False)


def test_an_endpoint_tracks_since_when_it_fails() -> None:
    endpoint = _endpoint()
    assert endpoint.note_failure(NOW) is True
    assert endpoint.note_failure(NOW + timedelta(hours=1)) is False
    assert endpoint.failing_since == NOW
    assert endpoint.failing_for_longer_than(timedelta(days=5), NOW + timedelta(days=5))
    assert not endpoint.failing_for_longer_than(timedelta(days=5), NOW + timedelta(days=4))
    assert endpoint.note_success() is True
    assert not endpoint.failing_for_longer_than(timedelta(0), NOW)
    endpoint.disable("gone", NOW)
    assert (endpoint.enabled, endpoint.disabled_reason, endpoint.deliverable) == (
        False,
        "gone",
        False,
    )
