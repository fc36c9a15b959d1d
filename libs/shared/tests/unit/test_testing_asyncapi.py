"""The AsyncAPI validator used by contract and e2e tests catches what it must."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml

from shared.testing.asyncapi import EventContract, resolved_schema

ASYNCAPI = Path(__file__).resolve().parents[4] / "contracts" / "asyncapi"


@pytest.fixture(scope="module")
def contract() -> EventContract:
    return EventContract.load_dir(ASYNCAPI)


def example(file: str, message: str) -> dict:
    doc = yaml.safe_load((ASYNCAPI / file).read_text())
    return copy.deepcopy(doc["components"]["messages"][message]["examples"][0])


def test_loads_every_event_type_with_sibling_refs_inlined(contract: EventContract) -> None:
    assert "ordo.orders.order.placed.v1" in contract.messages
    assert "ordo.payments.payment.authorized.v1" in contract.messages
    assert "$ref" not in str(contract.messages["ordo.orders.order.placed.v1"].payload)


def test_the_contract_example_passes(contract: EventContract) -> None:
    ex = example("orders.yaml", "OrderPlaced")
    contract.validate("ordo.orders.order.placed.v1", ex["headers"], ex["payload"])


@pytest.mark.parametrize(
    ("mutate", "needle"),
    [
        (lambda ex: ex["payload"].pop("lines"), "'lines' is a required property"),
        (lambda ex: ex["payload"].update(order_id="not-a-uuid"), "is not a 'uuid'"),
        (lambda ex: ex["payload"].update(extra=1), "Additional properties"),
        (lambda ex: ex["payload"]["lines"][0].update(quantity=0), "less than the minimum"),
        (lambda ex: ex["headers"].update(ce_type="ordo.x.v1"), "headers.ce_type"),
    ],
)
def test_violations_are_named(contract: EventContract, mutate, needle: str) -> None:
    ex = example("orders.yaml", "OrderPlaced")
    mutate(ex)
    with pytest.raises(AssertionError, match="breaks its contract") as caught:
        contract.validate("ordo.orders.order.placed.v1", ex["headers"], ex["payload"])
    assert needle in str(caught.value)


def test_an_unknown_type_fails(contract: EventContract) -> None:
    with pytest.raises(AssertionError, match="no message"):
        contract.validate("ordo.nope.v1", None, {})


def test_any_schema_of_a_contract_resolves_with_its_refs_inlined() -> None:
    gateway = ASYNCAPI.parent / "openapi" / "gateway.v1.yaml"
    schema = resolved_schema(gateway, "components", "schemas", "WebhookMessage")
    assert schema["type"] == "object"
    assert "$ref" not in str(schema)
    placed = resolved_schema(
        ASYNCAPI / "orders.yaml", "components", "messages", "OrderPlaced", "payload"
    )
    assert (
        placed
        == EventContract.load(ASYNCAPI / "orders.yaml")
        .messages["ordo.orders.order.placed.v1"]
        .payload
    )
