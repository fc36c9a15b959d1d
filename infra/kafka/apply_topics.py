"""Apply infra/kafka/topics.toml to a Kafka cluster; safe to run again and again.

Creates missing topics (and their dead-letter twins), grows partition counts that are too low
(never shrinks: Kafka cannot, and keys would move), and sets the declared topic configs on
existing topics. Prints one line per change and exits non-zero on any error.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tomllib
from dataclasses import dataclass
from pathlib import Path

from aiokafka.admin import AIOKafkaAdminClient, NewPartitions
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from aiokafka.admin.new_topic import NewTopic

HERE = Path(__file__).resolve().parent


@dataclass(frozen=True)
class TopicSpec:
    name: str
    partitions: int
    replication_factor: int
    configs: dict[str, str]


def load_specs(path: Path, cluster: str) -> list[TopicSpec]:
    doc = tomllib.loads(path.read_text())
    try:
        replication = doc["clusters"][cluster]
    except KeyError:
        raise SystemExit(f"unknown cluster {cluster!r}; known: {sorted(doc['clusters'])}") from None
    defaults, dlq = doc["defaults"], doc["dead_letter"]
    specs: list[TopicSpec] = []
    for topic in doc["topics"]:
        shapes = [
            (
                topic["name"],
                topic.get("partitions", defaults["partitions"]),
                topic.get("retention_ms", defaults["retention_ms"]),
            )
        ]
        if topic.get("dead_letter"):
            shapes.append((topic["name"] + dlq["suffix"], dlq["partitions"], dlq["retention_ms"]))
        for name, partitions, retention in shapes:
            specs.append(
                TopicSpec(
                    name=name,
                    partitions=int(partitions),
                    replication_factor=int(replication["replication_factor"]),
                    configs={
                        "cleanup.policy": topic.get("cleanup_policy", defaults["cleanup_policy"]),
                        "retention.ms": str(retention),
                        "min.insync.replicas": str(replication["min_insync_replicas"]),
                    },
                )
            )
    return specs


async def apply(bootstrap: str, specs: list[TopicSpec]) -> int:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=15_000)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [s for s in specs if s.name not in existing]
        if missing:
            await admin.create_topics(
                [
                    NewTopic(s.name, s.partitions, s.replication_factor, topic_configs=s.configs)
                    for s in missing
                ]
            )
            for s in missing:
                print(f"created  {s.name} partitions={s.partitions} {s.configs}")
        present = [s for s in specs if s.name in existing]
        if not present:
            print(f"topics: {len(missing)} created, 0 grown, 0 reconfigured, 0 unchanged")
            return 0
        described = await admin.describe_topics([s.name for s in present])
        counts = {t["topic"]: len(t["partitions"]) for t in described}
        grow = {}
        for s in present:
            if counts[s.name] < s.partitions:
                grow[s.name] = NewPartitions(total_count=s.partitions)
                print(f"grown    {s.name} partitions {counts[s.name]} -> {s.partitions}")
            elif counts[s.name] > s.partitions:
                print(
                    f"kept     {s.name} has {counts[s.name]} partitions (> {s.partitions}; "
                    "Kafka cannot shrink)"
                )
        if grow:
            await admin.create_partitions(grow)
        resources = [ConfigResource(ConfigResourceType.TOPIC, s.name) for s in present]
        current = await admin.describe_configs(resources)
        actual: dict[str, dict[str, str]] = {}
        for response in current:
            for _err, _msg, _type, name, entries in response.resources:
                actual[name] = {e[0]: e[1] for e in entries}
        drift = [
            s for s in present if any(actual[s.name].get(k) != v for k, v in s.configs.items())
        ]
        if drift:
            await admin.alter_configs(
                [ConfigResource(ConfigResourceType.TOPIC, s.name, configs=s.configs) for s in drift]
            )
            for s in drift:
                print(f"altered  {s.name} {s.configs}")
        unchanged = len(present) - len(drift) - len(grow)
        print(
            f"topics: {len(missing)} created, {len(grow)} grown, {len(drift)} reconfigured, "
            f"{max(unchanged, 0)} unchanged"
        )
        return 0
    finally:
        await admin.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--bootstrap", default="127.0.0.1:19092")
    parser.add_argument("--cluster", default="local")
    parser.add_argument("--file", type=Path, default=HERE / "topics.toml")
    args = parser.parse_args()
    return asyncio.run(apply(args.bootstrap, load_specs(args.file, args.cluster)))


if __name__ == "__main__":
    sys.exit(main())
