"""Prometheus alerting (issue 14, item 2): the rules parse, every alert has a promtool unit test
that makes it fire and a runbook, the rules name only metrics we export, Alertmanager's
configuration is valid, and the scrape targets follow the Procfile that infra/services.sh runs.
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
import re
import time
import urllib.request
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest

from .conftest import (
    PROM_DIR,
    REPO,
    declared_metrics,
    known_metric,
    load_yaml,
    metric_names,
    promtool_test_files,
    rule_files,
    rules,
    run,
    tool,
)

PROM_URL = "http://127.0.0.1:19090"


def test_promtool_check_rules() -> None:
    promtool = tool("promtool")
    done = run([promtool, "check", "rules", *map(str, rule_files())], REPO)
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.parametrize("path", promtool_test_files(), ids=lambda p: p.name)
def test_promtool_unit_tests(path: Path) -> None:
    promtool = tool("promtool")
    # promtool resolves a test file's rule_files relative to the test file.
    done = run([promtool, "test", "rules", path.name], path.parent)
    assert done.returncode == 0, done.stdout + done.stderr


def test_every_alert_has_a_unit_test_that_makes_it_fire() -> None:
    fired: set[str] = set()
    for path in promtool_test_files():
        for case in load_yaml(path)["tests"]:
            for check in case.get("alert_rule_test", []):
                if check.get("exp_alerts"):
                    fired.add(check["alertname"])
    alerts = {rule["alert"] for _, rule in rules("alert")}
    assert alerts - fired == set(), "alerts without a unit test where they fire"


def test_every_alert_links_a_runbook_that_exists() -> None:
    for path, rule in rules("alert"):
        annotations = rule.get("annotations", {})
        link = annotations.get("runbook_url") or annotations.get("runbook")
        assert link, f"{path.name}: {rule['alert']} has no runbook"
        assert (REPO / link).is_file(), f"{path.name}: {rule['alert']} links missing {link}"
        assert rule.get("labels", {}).get("severity") in {"page", "ticket"}, rule["alert"]


def test_rules_name_only_metrics_we_export() -> None:
    exported = declared_metrics() | {r["record"] for _, r in rules("record")}
    for path, rule in [*rules("alert"), *rules("record")]:
        unknown = {n for n in metric_names(rule["expr"]) if not known_metric(n, exported)}
        assert unknown == set(), f"{path.name}: {rule.get('alert') or rule['record']}: {unknown}"


def test_metric_names_are_read_from_promql() -> None:
    expr = (
        'sum by (service) (rate(http_requests_total{status=~"5.."}[5m])) / ignoring(x) '
        "max(slo:x:ratio_rate5m offset 1h) > bool 1e3 and on(a) up"
    )
    assert metric_names(expr) == {"http_requests_total", "slo:x:ratio_rate5m", "up"}


def test_job_alerts_select_every_periodic_job_and_no_event_driven_work() -> None:
    periodic = re.compile(r'exported_job=~"([^"]+)"')
    patterns = {
        p
        for _, r in rules("alert")
        if r["alert"].startswith("Job")
        for p in periodic.findall(r["expr"])
    }
    compiled = [re.compile(p) for p in patterns]

    def selects(name: str) -> bool:
        return any(c.fullmatch(name) for c in compiled)

    sources = (REPO / "services").glob("*/src/**/*.py")
    names = {n for p in sources for n in re.findall(r'^\w+_JOB = "([^"]+)"', p.read_text(), re.M)}
    # The chassis' housekeeping chores, named f"{service}.purge_<what>" for every service.
    housekeeping = (REPO / "libs/shared/src/shared/housekeeping.py").read_text()
    chores = re.findall(r'f"\{service\}\.(purge_\w+)"', housekeeping)
    assert len(chores) >= 3, chores
    services = [p.name for p in (REPO / "services").iterdir() if (p / "pyproject.toml").exists()]
    names |= {f"{service}.{chore}" for service in services for chore in chores}
    assert len(names) >= 6  # the services' own PeriodicJob names (*_JOB) and the chores
    assert all(selects(n) for n in names), sorted(n for n in names if not selects(n))
    for event_driven in (
        "payments.authorize",
        "payments.void",
        "webhook_delivery",
        "webhook_attempt",
    ):
        assert not selects(event_driven), event_driven


def test_amtool_check_config() -> None:
    amtool = tool("amtool")
    done = run([amtool, "check-config", str(PROM_DIR / "alertmanager.yml")], REPO)
    assert done.returncode == 0, done.stdout + done.stderr


def _targets_module() -> Any:
    spec = importlib.util.spec_from_file_location("ordo_targets", PROM_DIR / "targets.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("layout", ["split", "combined"])
def test_targets_are_every_process_of_the_procfile(layout: str) -> None:
    procfile = REPO / "infra" / f"Procfile.{layout}"
    groups = _targets_module().targets(procfile)
    lines = [
        line.split()
        for line in procfile.read_text().splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    ]
    expected = {(n, s, f"127.0.0.1:{p}") for n, s, p, _ in lines if s != "payment-provider"}
    got = {(g["labels"]["process"], g["labels"]["service"], g["targets"][0]) for g in groups}
    assert got == expected
    assert all(len(g["targets"]) == 1 for g in groups)


def _get(path: str) -> Any:
    with urllib.request.urlopen(PROM_URL + path, timeout=5) as response:  # noqa: S310 # nosec B310 - loopback
        return json.load(response)


@pytest.mark.integration
def test_the_running_prometheus_scrapes_every_process_and_loads_every_rule() -> None:
    try:
        targets = _get("/api/v1/targets")["data"]["activeTargets"]
    except OSError as exc:
        pytest.fail(f"Prometheus does not answer on {PROM_URL} (make up starts it): {exc}")
    jobs = {t["labels"]["job"] for t in targets}
    procfile_jobs = {g["labels"]["process"] for g in _targets_module().targets(_running_procfile())}
    assert procfile_jobs | {"prometheus", "alertmanager"} <= jobs
    groups = _get("/api/v1/rules")["data"]["groups"]
    loaded = {r["name"] for g in groups for r in g["rules"] if r["type"] == "alerting"}
    assert loaded == {rule["alert"] for _, rule in rules("alert")}
    assert all(r["health"] != "err" for g in groups for r in g["rules"]), "a rule fails to evaluate"


def _running_procfile() -> Path:
    # The targets file ctl.sh generated names the layout's processes; compare with both layouts.
    generated = json.loads((REPO / ".data" / "prometheus" / "targets.json").read_text())
    names = {g["labels"]["process"] for g in generated}
    for layout in ("split", "combined"):
        procfile = REPO / "infra" / f"Procfile.{layout}"
        if names == {g["labels"]["process"] for g in _targets_module().targets(procfile)}:
            return procfile
    pytest.fail(f".data/prometheus/targets.json matches no Procfile: {sorted(names)}")


@pytest.mark.integration
async def test_alertmanager_routes_an_alert_to_the_webhook_receiver() -> None:
    # async, waiting with asyncio.sleep: a blocking wait of ~30 s (group_wait) would freeze the
    # worker's event loop, and the Kafka clients of session fixtures time out under it.
    probe = f"probe-{uuid.uuid4().hex[:12]}"
    # A group of its own (group_by: alertname, service): notified after group_wait (30 s), not
    # after the group_interval (5 min) of a group an earlier run left behind.
    labels = {"alertname": "OrdoRoutingProbe", "severity": "ticket", "service": probe}
    alert = [{"labels": labels}]
    try:
        async with httpx.AsyncClient(timeout=5) as client:
            response = await client.post("http://127.0.0.1:19094/api/v2/alerts", json=alert)
    except httpx.HTTPError as exc:
        pytest.fail(f"Alertmanager does not answer on 127.0.0.1:19094 (make up starts it): {exc}")
    assert response.status_code == 200
    sink = REPO / ".data" / "logs" / "alerts.jsonl"
    deadline = time.monotonic() + 120  # group_wait is 30 s
    while time.monotonic() < deadline:
        if sink.is_file() and probe in sink.read_text(encoding="utf-8"):
            return
        await asyncio.sleep(1)
    pytest.fail(f"the webhook receiver got no notification for {probe} (see {sink})")
