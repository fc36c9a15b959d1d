"""What every Deployment of every overlay must have; a manifest that drops one fails here."""

from __future__ import annotations

import importlib
import tomllib
from typing import Any

import pytest

from tests.k8s.conftest import ROOT, of_kind

Resources = dict[str, list[dict[str, Any]]]
OVERLAYS = ["local", "production"]
# uvicorn's timeout_graceful_shutdown (shared.http.server.server_config).
HTTP_DRAIN_S = 10


def _deployments(overlays: Resources, overlay: str) -> list[dict[str, Any]]:
    found = of_kind(overlays[overlay], "Deployment")
    assert found
    return found


def _app(deployment: dict[str, Any]) -> dict[str, Any]:
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    return dict(container)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_probes(overlays: Resources, overlay: str) -> None:
    for d in _deployments(overlays, overlay):
        app = _app(d)
        name = d["metadata"]["name"]
        assert app["livenessProbe"]["httpGet"]["path"] == "/health/live", name
        assert app["readinessProbe"]["httpGet"]["path"] == "/health/ready", name
        assert app["startupProbe"]["httpGet"]["path"] == "/health/live", name
        ports = {p["name"]: p["containerPort"] for p in app["ports"]}
        assert app["readinessProbe"]["httpGet"]["port"] in ports, name


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_security_context(overlays: Resources, overlay: str) -> None:
    for d in _deployments(overlays, overlay):
        pod = d["spec"]["template"]["spec"]
        name = d["metadata"]["name"]
        assert pod["securityContext"]["runAsNonRoot"] is True, name
        assert pod["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault", name
        assert pod["automountServiceAccountToken"] is False, name
        sc = _app(d)["securityContext"]
        assert sc["readOnlyRootFilesystem"] is True, name
        assert sc["allowPrivilegeEscalation"] is False, name
        assert sc["capabilities"]["drop"] == ["ALL"], name
        assert "add" not in sc["capabilities"], name


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_requests_and_limits(overlays: Resources, overlay: str) -> None:
    for d in _deployments(overlays, overlay):
        resources = _app(d)["resources"]
        for bound in ("requests", "limits"):
            assert {"cpu", "memory"} <= set(resources[bound]), d["metadata"]["name"]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_rolling_update_keeps_every_replica(overlays: Resources, overlay: str) -> None:
    for d in _deployments(overlays, overlay):
        strategy = d["spec"]["strategy"]
        assert strategy["type"] == "RollingUpdate", d["metadata"]["name"]
        assert strategy["rollingUpdate"]["maxUnavailable"] == 0, d["metadata"]["name"]
        assert strategy["rollingUpdate"]["maxSurge"] >= 1, d["metadata"]["name"]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_prestop_drain_fits_the_grace_period(overlays: Resources, overlay: str) -> None:
    for d in _deployments(overlays, overlay):
        sleep = _app(d)["lifecycle"]["preStop"]["sleep"]["seconds"]
        grace = d["spec"]["template"]["spec"]["terminationGracePeriodSeconds"]
        assert sleep >= 3, d["metadata"]["name"]
        assert grace >= sleep + HTTP_DRAIN_S + 10, d["metadata"]["name"]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_deployment_has_a_disruption_budget(overlays: Resources, overlay: str) -> None:
    pdbs = [
        p["spec"]["selector"]["matchLabels"]
        for p in of_kind(overlays[overlay], "PodDisruptionBudget")
    ]
    for d in _deployments(overlays, overlay):
        labels = d["spec"]["template"]["metadata"]["labels"]
        covering = [m for m in pdbs if m.items() <= labels.items()]
        assert len(covering) == 1, d["metadata"]["name"]


def test_every_role_of_every_service_is_a_deployment(overlays: Resources) -> None:
    # The roles each service declares in its ServiceSpec (<svc>/entrypoints/service.py).
    roles = {"payment-provider"}
    for service in ("gateway", "identity", "catalog", "orders", "payments", "notifications"):
        spec = importlib.import_module(f"{service}.entrypoints.service").SPEC
        roles |= {f"{service}-{role}" for role in spec.roles}
    local = {d["metadata"]["name"] for d in of_kind(overlays["local"], "Deployment")}
    production = {d["metadata"]["name"] for d in of_kind(overlays["production"], "Deployment")}
    assert local == roles
    assert production == roles - {"payment-provider"}
    procfile = (ROOT / "infra" / "Procfile.split").read_text().splitlines()
    split = {line.split()[0] for line in procfile if line.strip() and not line.startswith("#")}
    assert split <= roles


def _partitions() -> dict[str, int]:
    doc = tomllib.loads((ROOT / "infra" / "kafka" / "topics.toml").read_text())
    return {t["name"]: t.get("partitions", doc["defaults"]["partitions"]) for t in doc["topics"]}


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_autoscalers(overlays: Resources, overlay: str) -> None:
    deployments = {d["metadata"]["name"]: d for d in of_kind(overlays[overlay], "Deployment")}
    hpas = {
        h["spec"]["scaleTargetRef"]["name"]: h["spec"]
        for h in of_kind(overlays[overlay], "HorizontalPodAutoscaler")
    }
    partitions = _partitions()
    for name, d in deployments.items():
        role = d["metadata"]["labels"]["app.kubernetes.io/component"]
        if role == "api" and name != "payment-provider":
            assert name in hpas, name
        if role == "consumer":
            # More members than partitions would sit idle: the cap is the smallest topic's.
            consumed = d["metadata"]["annotations"]["ordo.dev/consumes"].split(",")
            assert hpas[name]["maxReplicas"] <= min(partitions[t] for t in consumed), name
    for spec in hpas.values():
        assert 1 <= spec["minReplicas"] <= spec["maxReplicas"]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_a_migration_job_per_service_with_migrations(overlays: Resources, overlay: str) -> None:
    services = {p.parent.name for p in (ROOT / "services").glob("*/alembic.ini")}
    jobs = [
        j
        for j in of_kind(overlays[overlay], "Job")
        if j["metadata"]["labels"].get("app.kubernetes.io/component") == "migration"
    ]
    assert {j["metadata"]["labels"]["app.kubernetes.io/name"] for j in jobs} == services
    for job in jobs:
        assert job["metadata"]["labels"]["ordo.dev/phase"] == "pre-rollout"
        spec = job["spec"]["template"]["spec"]
        containers = spec.get("initContainers", []) + spec["containers"]
        assert any(c["command"][-2:] == ["upgrade", "head"] for c in containers)
        for c in containers:
            assert c["securityContext"]["readOnlyRootFilesystem"] is True


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_rollout_phases(overlays: Resources, overlay: str) -> None:
    # Step 1 of the rollout applies what the migrations need and the migrations; the
    # Deployments roll only in step 2, once the Jobs have completed (docs/deploy.md).
    before = {
        "Namespace",
        "ConfigMap",
        "Secret",
        "ExternalSecret",
        "NetworkPolicy",
        "KafkaTopic",
        "Job",
    }
    for r in overlays[overlay]:
        phase = r["metadata"].get("labels", {}).get("ordo.dev/phase")
        name = f"{r['kind']}/{r['metadata']['name']}"
        if r["kind"] in before:
            assert phase == "pre-rollout", name
        if r["kind"] in {"Deployment", "HorizontalPodAutoscaler", "Ingress"}:
            assert phase is None, name
