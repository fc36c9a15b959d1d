"""Shared helpers of the operations tests: promtool, the rule files, the metrics we export.

promtool and amtool come from Debian's ``prometheus`` and ``prometheus-alertmanager`` packages,
which ``make up`` installs (infra/prometheus/ctl.sh). A test that needs one is skipped when it is
missing on a developer's machine, and fails when ``CI`` is set: CI must never pass a gate it
did not run.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess  # nosec B404 - runs promtool/amtool, fixed local tools, on files of this repo
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
PROM_DIR = REPO / "infra" / "prometheus"
RULES_DIR = PROM_DIR / "rules"

# Exported by every Python process (prometheus_client's default collectors), by Prometheus for
# each target, and by our Prometheus and Alertmanager about themselves.
_PLATFORM = re.compile(r"^(process_|python_|prometheus_|alertmanager_|scrape_|up$)")
_DECLARED = re.compile(
    r'\b(?:Gauge|Counter|Histogram|Summary)(?:MetricFamily)?\(\s*"([a-zA-Z_:][a-zA-Z0-9_:]*)"'
)
_SUFFIXES = ("_bucket", "_count", "_sum", "_created", "_total")


def tool(name: str) -> str:
    """Return the path of ``name``; skip without it, unless under CI (then fail)."""
    found = shutil.which(name)
    if found is None:
        message = f"{name} is not installed (infra/prometheus/ctl.sh install)"
        if os.environ.get("CI", "").lower() in {"1", "true", "yes"}:
            pytest.fail(message + ": CI must run this gate")
        pytest.skip(message)
    return found


def run(argv: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    """Run a fixed local tool and return its result (never raises on a non-zero exit)."""
    return subprocess.run(  # noqa: S603 # nosec B603 - fixed arguments, no shell
        argv, cwd=cwd, capture_output=True, text=True, timeout=120, check=False
    )


def rule_files() -> list[Path]:
    """Every rule file Prometheus loads (infra/prometheus/ctl.sh leaves the tests out)."""
    return sorted(
        p for p in RULES_DIR.glob("*.yml") if not p.name.endswith((".test.yml", "_test.yml"))
    )


def promtool_test_files() -> list[Path]:
    """Every promtool unit-test file: infra/prometheus/tests/*.yml and rules/*.test.yml."""
    return sorted([*(PROM_DIR / "tests").glob("*.yml"), *RULES_DIR.glob("*.test.yml")])


@cache
def load_yaml(path: Path) -> Any:
    """Parse a YAML file (cached: callers must not modify the result)."""
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def rules(kind: str) -> Iterator[tuple[Path, dict[str, Any]]]:
    """Yield (file, rule) for every rule of ``kind`` (``alert`` or ``record``)."""
    for path in rule_files():
        for group in load_yaml(path)["groups"]:
            for rule in group["rules"]:
                if kind in rule:
                    yield path, rule


@cache
def declared_metrics() -> frozenset[str]:
    """Metric names the chassis and the services declare in their source."""
    sources = [*(REPO / "libs" / "shared" / "src").rglob("*.py")]
    sources += (REPO / "tools" / "ops" / "src").rglob("*.py")
    sources += (REPO / "services").glob("*/src/**/*.py")
    return frozenset(n for p in sources for n in _DECLARED.findall(p.read_text(encoding="utf-8")))


def known_metric(name: str, exported: frozenset[str]) -> bool:
    """True when ``name`` (a series name as queried) is one of ``exported`` or the platform's."""
    if _PLATFORM.match(name) or name in exported:
        return True
    return any(name.endswith(s) and name.removesuffix(s) in exported for s in _SUFFIXES)


_STRINGS = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'')
_BRACES = re.compile(r"\{[^}]*\}")
_GROUPING = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)")
_RANGES = re.compile(r"\[[^\]]*\]")
_IDENT = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
_KEYWORDS = frozenset({"and", "or", "unless", "bool", "offset", "inf", "nan", "atan2"})


def metric_names(expr: str) -> set[str]:
    """The series names a PromQL expression selects (functions, labels and keywords removed)."""
    text = _RANGES.sub(" ", _GROUPING.sub(" ", _BRACES.sub(" ", _STRINGS.sub(" ", expr))))
    names = set()
    for match in _IDENT.finditer(text):
        rest = text[match.end() :].lstrip()
        word = match.group()
        if rest.startswith("(") or word.lower() in _KEYWORDS:
            continue
        if match.start() > 0 and (
            text[match.start() - 1].isdigit() or text[match.start() - 1] == "."
        ):
            continue  # a number's exponent or unit (1e3)
        names.add(word)
    return names
