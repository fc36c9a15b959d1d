"""The AsyncAPI contracts pass the official parser and say what the saga needs: every topic of
infra/kafka/topics.toml with its dead-letter twin, versioned CloudEvents types, headers, keys,
examples that validate, and a retry lane and dead-letter operation for every consumer group."""

from __future__ import annotations

import importlib
import json
import re
import shutil
import subprocess
import tomllib
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from .conftest import ASYNCAPI_DIR, REPO, load

TOOLS = REPO / "tools" / "asyncapi"
SERVICES = ("catalog", "orders", "payments", "notifications")
CE_TYPE = re.compile(
    r"^ordo\.(?P<service>[a-z]+)\.(?P<name>[a-z_]+\.[a-z_]+)\.v(?P<major>[1-9][0-9]*)$"
)
SAGA = {
    "order.placed": "orders",
    "stock.reserved": "catalog",
    "stock.rejected": "catalog",
    "order.payment_requested": "orders",
    "payment.authorized": "payments",
    "payment.failed": "payments",
    "payment.authorization_deferred": "payments",
    "order.confirmed": "orders",
    "order.rejected": "orders",
    "order.cancel_requested": "orders",
    "stock.released": "catalog",
    "stock.committed": "catalog",
    "payment.voided": "payments",
    "order.cancelled": "orders",
}


def _node() -> str:
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed: the AsyncAPI parser (npm @asyncapi/parser) needs it")
    return node


def _ensure_parser() -> None:
    pinned = json.loads((TOOLS / "package.json").read_text())["dependencies"]["@asyncapi/parser"]
    installed = TOOLS / "node_modules" / "@asyncapi" / "parser" / "package.json"
    if installed.exists() and json.loads(installed.read_text())["version"] == pinned:
        return
    npm = shutil.which("npm")
    assert npm, "npm is needed to install tools/asyncapi (npm ci)"
    result = subprocess.run(
        [npm, "ci", "--no-audit", "--no-fund", "--ignore-scripts"],
        cwd=TOOLS,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, f"npm ci in tools/asyncapi failed:\n{result.stderr[-2000:]}"


def _validate(*files: Path) -> subprocess.CompletedProcess[str]:
    node = _node()
    _ensure_parser()
    return subprocess.run(
        [node, str(TOOLS / "validate.mjs"), *map(str, files)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_official_parser_accepts_every_asyncapi_document() -> None:
    result = _validate()
    assert result.returncode == 0, result.stdout + result.stderr
    for service in SERVICES:
        assert f"contracts/asyncapi/{service}.yaml: AsyncAPI 3.0.0" in result.stdout


def test_official_parser_rejects_a_broken_document(tmp_path: Path) -> None:
    """The validator is not vacuous: an invalid action is an error and fails the run."""
    broken = tmp_path / "broken.yaml"
    text = (
        (ASYNCAPI_DIR / "payments.yaml").read_text().replace("action: send", "action: publish", 1)
    )
    broken.write_text(
        text.replace("./common.yaml", str(ASYNCAPI_DIR / "common.yaml")).replace(
            "./orders.yaml", str(ASYNCAPI_DIR / "orders.yaml")
        )
    )
    result = _validate(broken)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "error" in result.stdout


# ------------------------------------------------------------------------------ structure


@cache
def _doc(name: str) -> dict[str, Any]:
    return load(ASYNCAPI_DIR / f"{name}.yaml")


@cache
def _registry() -> Registry:
    """Every AsyncAPI file as a schema resource, so cross-file $refs resolve offline."""
    resources = [
        (path.resolve().as_uri(), Resource(contents=load(path), specification=DRAFT202012))
        for path in sorted(ASYNCAPI_DIR.glob("*.yaml"))
    ]
    return Registry().with_resources(resources)


def _validator(service: str, pointer: str) -> Draft202012Validator:
    """Validate against the schema at ``pointer`` inside the file, so its $refs resolve there."""
    base = (ASYNCAPI_DIR / f"{service}.yaml").resolve().as_uri()
    return Draft202012Validator(
        {"$ref": f"{base}#{pointer}"},
        registry=_registry(),
        format_checker=Draft202012Validator.FORMAT_CHECKER,
    )


def _messages() -> list[Any]:
    return [
        pytest.param(service, key, message, id=f"{service}:{message['name']}")
        for service in SERVICES
        for key, message in _doc(service)["components"]["messages"].items()
    ]


MESSAGES = _messages()


@pytest.mark.parametrize(("service", "key", "message"), MESSAGES)
def test_message_is_a_versioned_cloudevent_with_key_headers_and_schema(
    service: str, key: str, message: dict[str, Any]
) -> None:
    ce_type = message["x-ce-type"]
    match = CE_TYPE.match(ce_type)
    assert match, f"{ce_type} does not follow ordo.<service>.<aggregate>.<event>.v<major>"
    assert match["service"] == service
    assert match["name"] == message["name"]
    headers = message["headers"]["allOf"]
    assert headers[0] == {"$ref": "./common.yaml#/components/schemas/EventHeaders"}
    assert headers[1]["properties"]["ce_type"]["const"] == ce_type
    assert headers[1]["properties"]["ce_source"]["const"] == f"/ordo/{service}"
    assert message["contentType"] == "application/json"
    assert message["bindings"]["kafka"]["key"], "names the record key"
    payload = _doc(service)["components"]["schemas"][message["payload"]["$ref"].rsplit("/", 1)[-1]]
    assert payload["type"] == "object"
    assert payload["additionalProperties"] is False
    assert {"org_id"} <= set(payload["required"]), "payloads carry the tenant"
    assert message.get("examples"), "at least one example"


@pytest.mark.parametrize(("service", "key", "message"), MESSAGES)
def test_message_examples_validate_against_their_schemas(
    service: str, key: str, message: dict[str, Any]
) -> None:
    payload = _validator(service, f"/components/messages/{key}/payload")
    headers = _validator(service, f"/components/messages/{key}/headers")
    for example in message["examples"]:
        errors = [e.message for e in payload.iter_errors(example["payload"])]
        assert not errors, f"{example['name']}: {errors}"
        if "headers" in example:
            errors = [e.message for e in headers.iter_errors(example["headers"])]
            assert not errors, f"{example['name']} headers: {errors}"


def test_headers_schema_rejects_a_record_without_cloudevents_attributes() -> None:
    headers = _validator("orders", "/components/messages/OrderPlaced/headers")
    assert not headers.is_valid({"ce_id": "not-a-uuid"})


def test_every_declared_topic_and_its_dead_letter_twin_is_specified() -> None:
    topics = tomllib.loads((REPO / "infra/kafka/topics.toml").read_text())
    addresses = {
        channel["address"]
        for path in ASYNCAPI_DIR.glob("*.yaml")
        for channel in load(path).get("channels", {}).values()
        if "address" in channel
    }
    suffix = topics["dead_letter"]["suffix"]
    for topic in topics["topics"]:
        if topic["name"] == "identity.events":
            continue  # identity's (issue 4): its dead-letter twin is not specified there yet
        assert topic["name"] in addresses
        if topic.get("dead_letter"):
            assert topic["name"] + suffix in addresses


@pytest.mark.parametrize("service", SERVICES)
def test_every_consumer_group_has_a_retry_lane_and_a_dead_letter_operation(service: str) -> None:
    doc = _doc(service)
    channels = doc["channels"]

    def address(ref: str) -> str:
        channel = channels[ref.rsplit("/", 1)[-1]]
        if "$ref" in channel:
            file, _, pointer = channel["$ref"].partition("#")
            return load(ASYNCAPI_DIR / file)["channels"][pointer.rsplit("/", 1)[-1]]["address"]
        return channel["address"]

    ops = doc["operations"].values()
    sends = {address(op["channel"]["$ref"]) for op in ops if op["action"] == "send"}
    receives = {address(op["channel"]["$ref"]) for op in ops if op["action"] == "receive"}
    for op in ops:
        group = op.get("bindings", {}).get("kafka", {}).get("groupId", {}).get("const")
        topic = address(op["channel"]["$ref"])
        if op["action"] != "receive" or group is None or ".retry." in topic:
            continue
        assert group == service
        lane = f"{topic}.retry.{group}"
        assert lane in sends, f"parks failures in retry lane {lane}"
        assert lane in receives, f"reads retry lane {lane}"
        assert f"{topic}.dlq" in sends, f"dead letters of {topic}"
    own = f"{service}.events"
    assert own in sends, f"{service} publishes {own}"


def test_saga_messages_exist_with_their_producers_and_consumers() -> None:
    produced, consumed = {}, set()
    for service in SERVICES:
        doc = _doc(service)
        for message in doc["components"]["messages"].values():
            produced[message["name"]] = service
        for op in doc["operations"].values():
            for ref in op.get("messages", []):
                name = ref["$ref"].rsplit("/", 1)[-1]
                if op["action"] == "receive":
                    consumed.add(name)
    for name, producer in SAGA.items():
        assert produced.get(name) == producer, name
    # Everything the saga sends is acted upon by someone, except facts only webhooks read.
    camel = {re.sub(r"[._](\w)", lambda m: m[1].upper(), n) for n in SAGA}
    unconsumed = camel - consumed
    assert unconsumed <= {"stockCommitted", "paymentVoided"}, unconsumed


@pytest.mark.parametrize("service", SERVICES)
def test_generated_models_accept_the_contract_examples(
    service: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """contracts/generated agrees with the contracts (make contracts-check guards the bytes)."""
    monkeypatch.syspath_prepend(str(REPO / "contracts" / "generated" / "python"))
    messages = importlib.import_module(f"ordo_contracts.{service}.messages").MESSAGES
    examples = {
        message["x-ce-type"]: message["examples"]
        for name in SERVICES
        for message in _doc(name)["components"]["messages"].values()
    }
    assert messages, "the generated map lists the service's events"
    for ce_type, message in messages.items():
        for example in examples[ce_type]:
            model = message.payload.model_validate(example["payload"])
            again = message.payload.model_validate(model.model_dump(mode="json"))
            assert again == model
