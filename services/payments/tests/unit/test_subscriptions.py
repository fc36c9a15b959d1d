"""The consumers against the contracts: every event type the producers' AsyncAPI puts on a
topic this service reads is handled or declared ignored, and the handled ones are those its
own contract receives (shared.testing.subscriptions)."""

from __future__ import annotations

import pytest

from payments.adapters.messaging.handlers import ORDERS_EVENTS
from shared.inbox.subscription import Subscription
from shared.testing.subscriptions import check_subscription


@pytest.mark.parametrize("subscription", [ORDERS_EVENTS], ids=lambda s: s.topic)
def test_every_type_on_the_topic_is_handled_or_ignored(subscription: Subscription) -> None:
    check_subscription(subscription, consumer="payments")
