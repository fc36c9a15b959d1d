"""The built overlays of infra/k8s, once per test session (kustomize v5.8.2, pinned)."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "infra" / "k8s"


def load(name: str) -> ModuleType:
    """infra/k8s/<name>.py as a module (infra/ is not a package)."""
    spec = importlib.util.spec_from_file_location(f"k8s_{name}", K8S / f"{name}.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def kustomize() -> str:
    # Built once per machine into ~/.cache/ordo/tools (make k8s-check has built it already).
    return subprocess.run(
        [str(ROOT / "infra" / "tools" / "go-tool.sh"), "kustomize"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()


@pytest.fixture(scope="session")
def overlays(kustomize: str) -> dict[str, list[dict[str, Any]]]:
    validate = load("validate")
    return {name: validate.build(kustomize, name) for name in validate.OVERLAYS}


def of_kind(resources: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [r for r in resources if r["kind"] == kind]
