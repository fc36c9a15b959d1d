"""Payments' alert rules (infra/prometheus/rules/payments.yml): money held for cancelled orders.

``promtool check rules`` and ``promtool test rules`` on infra/prometheus/tests/payments_test.yml
run when promtool is installed (Debian package ``prometheus``: ``apt-get install -y
--no-install-recommends prometheus``); without it they are skipped and say so. The rules must
name the gauges payments-worker really exports, and every alert a runbook that exists.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess  # nosec B404 - runs promtool, a fixed local tool, on files of this repository
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
RULES = REPO / "infra" / "prometheus" / "rules" / "payments.yml"
TESTS = REPO / "infra" / "prometheus" / "tests" / "payments_test.yml"
WORKER = REPO / "services" / "payments" / "src" / "payments" / "adapters" / "worker" / "payments.py"
PROMTOOL = shutil.which("promtool")


def _alerts() -> list[dict[str, object]]:
    document = yaml.safe_load(RULES.read_text(encoding="utf-8"))
    return [rule for group in document["groups"] for rule in group["rules"] if "alert" in rule]


def test_the_rules_watch_the_gauges_the_worker_exports_and_link_their_runbook() -> None:
    exported = set(re.findall(r'"(payments_held_for_cancelled_orders\w*)"', WORKER.read_text()))
    assert exported == {
        "payments_held_for_cancelled_orders",
        "payments_held_for_cancelled_orders_oldest_age_seconds",
    }
    used = {name for alert in _alerts() for name in re.findall(r"payments_held\w*", str(alert))}
    assert used == exported
    for alert in _alerts():
        annotations = alert["annotations"]
        assert isinstance(annotations, dict)
        assert (REPO / annotations["runbook"]).is_file(), alert["alert"]


@pytest.mark.skipif(
    PROMTOOL is None and not os.environ.get("CI"),
    reason="promtool not installed (Debian package prometheus); under CI it must be",
)
@pytest.mark.parametrize(
    ("command", "where"),
    [(["check", "rules", RULES.name], RULES.parent), (["test", "rules", TESTS.name], TESTS.parent)],
    ids=["check", "test"],
)
def test_promtool(command: list[str], where: Path) -> None:
    assert PROMTOOL is not None
    done = subprocess.run(  # noqa: S603 # nosec B603 - fixed arguments, no shell
        [PROMTOOL, *command], cwd=where, capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, f"promtool {' '.join(command)}:\n{done.stdout}{done.stderr}"
