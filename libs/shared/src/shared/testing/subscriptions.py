"""A consumer's :class:`~shared.inbox.subscription.Subscription` checked against the contracts.

::

    check_subscription(ORDERS_EVENTS, consumer="catalog")

fails when the topic's producer sends a type (per contracts/asyncapi) that the consumer neither
handles nor declares ignored, when it declares a type nobody sends, or when the types it
handles differ from those its own contract says it receives on the topic.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import yaml

from shared.inbox.subscription import Subscription

__all__ = ["CONTRACTS", "check_subscription", "received_types", "sent_types"]

CONTRACTS = Path(__file__).resolve().parents[5] / "contracts" / "asyncapi"
"""The repository's AsyncAPI documents."""


@cache
def _load(path: Path) -> Any:
    return yaml.safe_load(path.read_text())


def _resolve(node: Any, path: Path) -> tuple[Any, Path]:
    """Follow ``$ref`` s (to this or a sibling document, at any step of a pointer)."""
    while isinstance(node, dict) and "$ref" in node:
        file, _, pointer = str(node["$ref"]).partition("#")
        if file:
            path = (path.parent / file).resolve()
        node = _load(path)
        for part in pointer.strip("/").split("/"):
            node, path = _resolve(node[part], path)
    return node, path


def _types(document: Path, topic: str, action: str) -> set[str]:
    found: set[str] = set()
    for operation in _load(document).get("operations", {}).values():
        channel, _ = _resolve(operation["channel"], document)
        if operation["action"] != action or channel.get("address") != topic:
            continue
        for ref in operation["messages"]:
            message, _ = _resolve(ref, document)
            found.add(message["x-ce-type"])
    return found


def sent_types(topic: str, contracts: Path = CONTRACTS) -> set[str]:
    """Every event type some contract under ``contracts`` sends on ``topic``."""
    return {
        ce_type
        for document in sorted(contracts.glob("*.yaml"))
        for ce_type in _types(document, topic, "send")
    }


def received_types(topic: str, consumer: str, contracts: Path = CONTRACTS) -> set[str]:
    """The event types ``consumer``'s own contract says it receives on ``topic``."""
    return _types(contracts / f"{consumer}.yaml", topic, "receive")


def check_subscription(
    subscription: Subscription, *, consumer: str, contracts: Path = CONTRACTS
) -> None:
    """Raise ``AssertionError`` unless ``subscription`` accounts for every type on its topic."""
    topic = subscription.topic
    sent = sent_types(topic, contracts)
    if not sent:
        raise AssertionError(f"no contract sends on {topic}")
    declared = subscription.handles | subscription.ignores
    unaccounted = sorted(sent - declared)
    if unaccounted:
        raise AssertionError(f"{consumer} neither handles nor ignores on {topic}: {unaccounted}")
    stale = sorted(declared - sent)
    if stale:
        raise AssertionError(f"{consumer} declares types no contract sends on {topic}: {stale}")
    received = received_types(topic, consumer, contracts)
    if subscription.handles != received:
        raise AssertionError(
            f"{consumer} handles {sorted(subscription.handles)} on {topic}, "
            f"its contract receives {sorted(received)}"
        )
