"""Every overlay validates offline (Kubernetes 1.35 schemas, CRDs), and the check can fail."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from tests.k8s.conftest import load, of_kind

validate = load("validate")


@pytest.mark.parametrize("overlay", ["local", "production"])
def test_overlay_validates(overlays: dict[str, list[dict[str, Any]]], overlay: str) -> None:
    assert list(validate.findings(overlays[overlay])) == []


def _one(resources: list[dict[str, Any]], kind: str) -> dict[str, Any]:
    return copy.deepcopy(of_kind(resources, kind)[0])


def test_an_unknown_field_of_a_deployment_is_a_finding(overlays: dict[str, Any]) -> None:
    deployment = _one(overlays["production"], "Deployment")
    deployment["spec"]["template"]["spec"]["containers"][0]["livenesProbe"] = {}
    assert any("livenesProbe" in f for f in validate.findings([deployment]))


def test_a_kafka_topic_against_its_crd(overlays: dict[str, Any]) -> None:
    topic = _one(overlays["production"], "KafkaTopic")
    assert list(validate.findings([topic])) == []
    topic["spec"]["partitions"] = 0
    topic["spec"]["replica"] = 3
    problems = list(validate.findings([topic]))
    assert any("spec.partitions" in p for p in problems)
    assert any("replica" in p for p in problems)


def test_an_external_secret_against_its_crd(overlays: dict[str, Any]) -> None:
    secret = _one(overlays["production"], "ExternalSecret")
    del secret["spec"]["data"][0]["remoteRef"]["key"]
    assert any("'key' is a required property" in p for p in validate.findings([secret]))


def test_a_kind_without_a_schema_is_a_finding() -> None:
    unknown = {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}}
    assert any("no schema" in p for p in validate.findings([unknown]))
