"""The event catalogue's content: every topic, message, header, key and example of
contracts/asyncapi/, with every ``$ref`` (within a file or across files) resolved."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[2]
ASYNCAPI = REPO / "contracts" / "asyncapi"
_MAX_DEPTH = 40


@cache
def _load(path: Path) -> Any:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def _pointer(document: Any, pointer: str) -> Any:
    node = document
    for part in filter(None, pointer.split("/")):
        node = node[part.replace("~1", "/").replace("~0", "~")]
    return node


def resolve(node: Any, base: Path, depth: int = 0) -> Any:
    """``node`` with every ``$ref`` replaced by what it points at (relative to ``base``)."""
    if depth > _MAX_DEPTH:
        return node
    if isinstance(node, list):
        return [resolve(item, base, depth + 1) for item in node]
    if not isinstance(node, dict):
        return node
    ref = node.get("$ref")
    if isinstance(ref, str):
        target, _, pointer = ref.partition("#")
        path = (base.parent / target).resolve() if target else base
        return resolve(_pointer(_load(path), pointer), path, depth + 1)
    return {key: resolve(value, base, depth + 1) for key, value in node.items()}


@dataclass
class Message:
    """One message of a topic."""

    name: str
    title: str
    summary: str
    ce_type: str
    key: Any
    headers: Any
    payload: Any
    examples: list[Any]
    description: str = ""


@dataclass
class Topic:
    """One Kafka topic: its channel, its messages and who sends or receives them."""

    address: str
    title: str
    description: str
    partitions: int | None
    config: dict[str, Any]
    messages: list[Message] = field(default_factory=list)
    senders: list[str] = field(default_factory=list)
    receivers: list[str] = field(default_factory=list)


def _message(raw: dict[str, Any]) -> Message:
    kafka = (raw.get("bindings") or {}).get("kafka") or {}
    return Message(
        name=str(raw.get("name", "")),
        title=str(raw.get("title", "")),
        summary=str(raw.get("summary", "")),
        description=str(raw.get("description", "")),
        ce_type=str(raw.get("x-ce-type", "")),
        key=kafka.get("key"),
        headers=raw.get("headers"),
        payload=raw.get("payload"),
        examples=list(raw.get("examples") or []),
    )


def documents() -> list[Path]:
    """The AsyncAPI documents, sorted; common.yaml holds only shared components."""
    return sorted(ASYNCAPI.glob("*.yaml"))


def topics() -> list[Topic]:
    """Every topic named by a channel of any document, sorted by address."""
    found: dict[str, Topic] = {}
    for path in documents():
        document = _load(path)
        service = path.stem
        for raw_channel in (document.get("channels") or {}).values():
            channel = resolve(raw_channel, path)
            address = str(channel.get("address", ""))
            if not address or address in found:
                continue
            kafka = (channel.get("bindings") or {}).get("kafka") or {}
            topic = found[address] = Topic(
                address=address,
                title=str(channel.get("title", "")),
                description=str(channel.get("description", "")),
                partitions=kafka.get("partitions"),
                config=dict(kafka.get("topicConfiguration") or {}),
            )
            for raw in (channel.get("messages") or {}).values():
                topic.messages.append(_message(raw))
        for operation in (document.get("operations") or {}).values():
            channel = resolve(operation.get("channel", {}), path)
            topic = found.get(str(channel.get("address", "")))
            if topic is None:
                continue
            who = f"{service}: {operation.get('title', '')}"
            (topic.senders if operation.get("action") == "send" else topic.receivers).append(who)
    return [found[address] for address in sorted(found)]
