"""Notifications' policy equals docs/security.md and covers the contract's x-permission."""

from __future__ import annotations

from pathlib import Path

import yaml

from notifications.application.permissions import POLICY
from shared.auth import parse_permission_matrix

REPO = Path(__file__).resolve().parents[4]


def test_the_policy_is_the_documented_matrix() -> None:
    documented = parse_permission_matrix((REPO / "docs/security.md").read_text(), "notifications")
    assert dict(POLICY.grants) == documented


def test_every_contract_permission_is_in_the_policy() -> None:
    contract = yaml.safe_load((REPO / "contracts/openapi/notifications.yaml").read_text())
    used = {
        operation["x-permission"]
        for path in contract["paths"].values()
        for operation in path.values()
        if isinstance(operation, dict) and "x-permission" in operation
    }
    assert used == set(POLICY.grants)
