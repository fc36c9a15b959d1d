"""NetworkPolicies: deny by default, only the gateway exposed, each service to its own stores."""

from __future__ import annotations

from typing import Any

import pytest

from tests.k8s.conftest import of_kind

Resources = dict[str, list[dict[str, Any]]]


def _selects(policy: dict[str, Any], labels: dict[str, str]) -> bool:
    wanted = policy["spec"]["podSelector"].get("matchLabels", {})
    return bool(wanted.items() <= labels.items())


def _ordo_pods(resources: list[dict[str, Any]]) -> dict[str, dict[str, str]]:
    return {
        d["metadata"]["name"]: d["spec"]["template"]["metadata"]["labels"]
        for d in of_kind(resources, "Deployment")
    }


@pytest.mark.parametrize("overlay", ["local", "production"])
def test_default_deny_both_ways(overlays: Resources, overlay: str) -> None:
    policies = of_kind(overlays[overlay], "NetworkPolicy")
    deny = [
        p
        for p in policies
        if p["spec"]["podSelector"] == {}
        and not p["spec"].get("ingress")
        and not p["spec"].get("egress")
    ]
    assert deny
    assert set(deny[0]["spec"]["policyTypes"]) == {"Ingress", "Egress"}


@pytest.mark.parametrize("overlay", ["local", "production"])
def test_only_the_gateway_takes_traffic_from_anywhere(overlays: Resources, overlay: str) -> None:
    policies = of_kind(overlays[overlay], "NetworkPolicy")
    for name, labels in _ordo_pods(overlays[overlay]).items():
        open_to_all = any(
            _selects(p, labels) and any("from" not in rule for rule in p["spec"].get("ingress", []))
            for p in policies
        )
        assert open_to_all == (labels["app.kubernetes.io/name"] == "gateway"), name
    ingresses = of_kind(overlays[overlay], "Ingress")
    backends = {
        path["backend"]["service"]["name"]
        for i in ingresses
        for rule in i["spec"]["rules"]
        for path in rule["http"]["paths"]
    }
    assert backends <= {"gateway"}
    assert all(
        s["spec"].get("type", "ClusterIP") == "ClusterIP"
        for s in of_kind(overlays[overlay], "Service")
    )


def test_each_service_reaches_only_its_own_database(overlays: Resources) -> None:
    resources = overlays["production"]
    policies = of_kind(resources, "NetworkPolicy")
    db_rules: dict[str, set[str]] = {}
    for p in policies:
        for rule in p["spec"].get("egress", []):
            if any(port.get("port") == 5432 for port in rule.get("ports", [])):
                cidrs = {peer["ipBlock"]["cidr"] for peer in rule["to"]}
                for labels in _ordo_pods(resources).values():
                    if _selects(p, labels):
                        db_rules.setdefault(labels["app.kubernetes.io/name"], set()).update(cidrs)
    assert set(db_rules) == {
        "gateway",
        "identity",
        "catalog",
        "orders",
        "payments",
        "notifications",
    }
    # Distinct, one each: no service's pods may reach another service's instance.
    all_cidrs = [c for cidrs in db_rules.values() for c in cidrs]
    assert all(len(c) == 1 for c in db_rules.values())
    assert len(set(all_cidrs)) == len(all_cidrs)


@pytest.mark.parametrize("overlay", ["local", "production"])
def test_redis_only_for_the_gateway_and_catalog(overlays: Resources, overlay: str) -> None:
    policies = of_kind(overlays[overlay], "NetworkPolicy")
    for name, labels in _ordo_pods(overlays[overlay]).items():
        reaches_redis = any(
            _selects(p, labels)
            and any(
                port.get("port") == 6379
                for rule in p["spec"].get("egress", [])
                for port in rule.get("ports", [])
            )
            for p in policies
        )
        assert reaches_redis == (labels["app.kubernetes.io/name"] in {"gateway", "catalog"}), name
