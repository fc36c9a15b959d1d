"""What a resource names exists in the same overlay: a typo is found here, not in a cluster."""

from __future__ import annotations

from typing import Any

import pytest

from tests.k8s.conftest import of_kind

Resources = dict[str, list[dict[str, Any]]]
OVERLAYS = ["local", "production"]


def _pods(resources: list[dict[str, Any]]) -> list[tuple[str, dict[str, Any]]]:
    return [
        (f"{r['kind']}/{r['metadata']['name']}", r["spec"]["template"])
        for r in resources
        if r["kind"] in {"Deployment", "StatefulSet", "Job"}
    ]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_config_maps_and_secrets_exist(overlays: Resources, overlay: str) -> None:
    resources = overlays[overlay]
    config_maps = {c["metadata"]["name"] for c in of_kind(resources, "ConfigMap")}
    # A Secret is in the overlay, or an ExternalSecret writes it.
    secrets = {s["metadata"]["name"] for s in of_kind(resources, "Secret")} | {
        e["spec"]["target"]["name"] for e in of_kind(resources, "ExternalSecret")
    }
    for name, template in _pods(resources):
        spec = template["spec"]
        for volume in spec.get("volumes", []):
            if "secret" in volume:
                assert volume["secret"]["secretName"] in secrets, name
            if "configMap" in volume:
                assert volume["configMap"]["name"] in config_maps, name
        for container in spec.get("initContainers", []) + spec["containers"]:
            for source in container.get("envFrom", []):
                assert source["configMapRef"]["name"] in config_maps, name
            for env in container.get("env", []):
                ref = env.get("valueFrom", {}).get("secretKeyRef")
                if ref:
                    assert ref["name"] in secrets, name


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_selectors_and_targets_find_their_pods(overlays: Resources, overlay: str) -> None:
    resources = overlays[overlay]
    pod_labels = [template["metadata"]["labels"] for _, template in _pods(resources)]
    deployments = {d["metadata"]["name"] for d in of_kind(resources, "Deployment")}

    def selects(selector: dict[str, str]) -> bool:
        return any(selector.items() <= labels.items() for labels in pod_labels)

    for service in of_kind(resources, "Service"):
        assert selects(service["spec"]["selector"]), service["metadata"]["name"]
    for pdb in of_kind(resources, "PodDisruptionBudget"):
        assert selects(pdb["spec"]["selector"]["matchLabels"]), pdb["metadata"]["name"]
    for hpa in of_kind(resources, "HorizontalPodAutoscaler"):
        assert hpa["spec"]["scaleTargetRef"]["name"] in deployments, hpa["metadata"]["name"]
    services = {s["metadata"]["name"] for s in of_kind(resources, "Service")}
    for ingress in of_kind(resources, "Ingress"):
        for rule in ingress["spec"]["rules"]:
            for path in rule["http"]["paths"]:
                assert path["backend"]["service"]["name"] in services
