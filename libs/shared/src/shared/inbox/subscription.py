"""What a consumer does with each event type of one topic, declared once (Eventuate Tram style).

A consumer names the types it handles and the types it knowingly ignores; the topic's producer
contract (contracts/asyncapi) says which types exist. ``shared.testing.subscriptions`` checks
the two against each other, so a type added to a producer's contract fails the consumer's tests
until the consumer handles it or declares it ignored. At run time an ignored type is
acknowledged without a transaction (:func:`~shared.inbox.ignore_event`) and a type neither
handled nor ignored (a producer ahead of its contract) still goes to the dead letters::

    ORDERS_EVENTS = Subscription(
        "orders.events",
        handles={ORDER_PLACED, ORDER_CONFIRMED},
        ignores={"ordo.orders.order.rejected.v1"},
    )
    topics = {ORDERS_EVENTS.topic: ORDERS_EVENTS.table({ORDER_PLACED: on_order_placed, ...})}
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from shared.inbox._event import Handler, ignore_event

__all__ = ["Subscription"]


@dataclass(frozen=True, init=False)
class Subscription:
    """One consumer's declaration for one topic: the event types it handles and ignores."""

    topic: str
    handles: frozenset[str]
    ignores: frozenset[str]

    def __init__(self, topic: str, *, handles: Iterable[str], ignores: Iterable[str] = ()) -> None:
        handled, ignored = frozenset(handles), frozenset(ignores)
        both = handled & ignored
        if both:
            raise ValueError(f"{topic}: both handled and ignored: {sorted(both)}")
        object.__setattr__(self, "topic", topic)
        object.__setattr__(self, "handles", handled)
        object.__setattr__(self, "ignores", ignored)

    def table(self, handlers: Mapping[str, Handler[Any]]) -> dict[str, Handler[Any]]:
        """``{ce_type: handler}`` for the consumer: ``handlers`` plus the ignored types.

        Raises:
            ValueError: ``handlers`` are not exactly the declared ``handles``.
        """
        if set(handlers) != self.handles:
            raise ValueError(
                f"{self.topic}: handlers for {sorted(handlers)}, declared {sorted(self.handles)}"
            )
        return {**dict.fromkeys(sorted(self.ignores), ignore_event), **handlers}
