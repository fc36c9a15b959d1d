"""Subscriptions: the dispatch table they build, and the check that fails when a producer's
contract gains a type its consumers neither handle nor ignore."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from shared.inbox import InboxEvent, ignore_event
from shared.inbox.subscription import Subscription
from shared.testing.subscriptions import check_subscription


async def on_placed(event: InboxEvent, uow: object) -> None:
    del event, uow


def contracts(tmp_path: Path, sent: list[str], received: list[str]) -> Path:
    """A producer sending ``sent`` on ``things.events`` and a consumer receiving ``received``."""

    def document(action: str, types: list[str]) -> dict[str, object]:
        messages = {t.split(".")[2]: {"x-ce-type": t} for t in types}
        return {
            "asyncapi": "3.0.0",
            "channels": {"things": {"address": "things.events", "messages": messages}},
            "operations": {
                "op": {
                    "action": action,
                    "channel": {"$ref": "#/channels/things"},
                    "messages": [{"$ref": f"#/channels/things/messages/{m}"} for m in messages],
                }
            },
        }

    (tmp_path / "things.yaml").write_text(yaml.safe_dump(document("send", sent)))
    (tmp_path / "shop.yaml").write_text(yaml.safe_dump(document("receive", received)))
    return tmp_path


PLACED, SHIPPED, LOST = "ordo.things.placed.v1", "ordo.things.shipped.v1", "ordo.things.lost.v1"


def test_the_table_maps_handled_types_to_handlers_and_ignored_ones_to_ignore_event() -> None:
    subscription = Subscription("things.events", handles={PLACED}, ignores={SHIPPED})
    assert subscription.table({PLACED: on_placed}) == {PLACED: on_placed, SHIPPED: ignore_event}
    with pytest.raises(ValueError, match="declared"):
        subscription.table({PLACED: on_placed, LOST: on_placed})
    with pytest.raises(ValueError, match="both handled and ignored"):
        Subscription("things.events", handles={PLACED}, ignores={PLACED})


def test_the_check_passes_when_every_sent_type_is_accounted_for(tmp_path: Path) -> None:
    folder = contracts(tmp_path, [PLACED, SHIPPED], [PLACED])
    subscription = Subscription("things.events", handles={PLACED}, ignores={SHIPPED})
    check_subscription(subscription, consumer="shop", contracts=folder)


def test_a_type_the_producer_gains_fails_the_consumers_check(tmp_path: Path) -> None:
    folder = contracts(tmp_path, [PLACED, SHIPPED, LOST], [PLACED])
    subscription = Subscription("things.events", handles={PLACED}, ignores={SHIPPED})
    with pytest.raises(AssertionError, match="neither handles nor ignores .*lost"):
        check_subscription(subscription, consumer="shop", contracts=folder)


def test_stale_declarations_and_handlers_the_contract_does_not_receive_fail(
    tmp_path: Path,
) -> None:
    folder = contracts(tmp_path, [PLACED], [PLACED])
    stale = Subscription("things.events", handles={PLACED}, ignores={LOST})
    with pytest.raises(AssertionError, match="no contract sends"):
        check_subscription(stale, consumer="shop", contracts=folder)
    (tmp_path / "b").mkdir()
    folder = contracts(tmp_path / "b", [PLACED, SHIPPED], [PLACED])
    unreceived = Subscription("things.events", handles={PLACED, SHIPPED})
    with pytest.raises(AssertionError, match="its contract receives"):
        check_subscription(unreceived, consumer="shop", contracts=folder)
