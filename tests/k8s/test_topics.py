"""Kafka topics on Kubernetes come from infra/kafka/topics.toml alone."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from tests.k8s.conftest import ROOT, load, of_kind

topics = load("topics")
TOML = ROOT / "infra" / "kafka" / "topics.toml"


def test_generated_files_match_topics_toml() -> None:
    assert topics.main(["--check"]) == 0, "run: python infra/k8s/topics.py"


def test_a_new_topic_in_the_toml_changes_both_outputs(tmp_path: Path) -> None:
    changed = tmp_path / "topics.toml"
    changed.write_text(TOML.read_text() + '\n[[topics]]\nname = "drift.events"\n')
    assert "drift.events" in topics.kafka_topics(changed)
    assert "drift.events" in topics.topics_job(changed)
    assert topics.kafka_topics(changed) != topics.kafka_topics(TOML)


def test_production_topics_are_the_tomls(overlays: dict[str, list[dict[str, Any]]]) -> None:
    spec = load("topics")._apply_topics().load_specs(TOML, "production")
    built = {
        t["spec"]["topicName"]: t["spec"] for t in of_kind(overlays["production"], "KafkaTopic")
    }
    assert set(built) == {s.name for s in spec}
    for s in spec:
        assert built[s.name]["partitions"] == s.partitions
        assert built[s.name]["replicas"] == s.replication_factor == 3
        assert built[s.name]["config"] == s.configs


def test_the_local_job_creates_every_topic(overlays: dict[str, list[dict[str, Any]]]) -> None:
    (job,) = [
        j for j in of_kind(overlays["local"], "Job") if j["metadata"]["name"] == "kafka-topics"
    ]
    script = job["spec"]["template"]["spec"]["containers"][0]["command"][-1]
    for s in load("topics")._apply_topics().load_specs(TOML, "local"):
        assert f"--topic {s.name} --partitions {s.partitions} --replication-factor 1" in script
    assert yaml.safe_load(topics.topics_job())["kind"] == "Job"


def test_the_local_broker_is_the_release_make_up_runs(
    overlays: dict[str, list[dict[str, Any]]],
) -> None:
    pom = (ROOT / "infra" / "kafka" / "pom.xml").read_text()
    version = pom.split("<kafka.version>")[1].split("</kafka.version>")[0]
    images = {
        c["image"]
        for r in overlays["local"]
        if r["kind"] in {"StatefulSet", "Job"}
        for c in r["spec"]["template"]["spec"]["containers"]
        if "kafka" in c["image"]
    }
    assert images == {f"apache/kafka:{version}"}
