"""Identity test fixtures shared by unit and integration tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from identity.adapters.crypto.keys import generate_kek

REPO = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="session")
def repo_root() -> Path:
    """The monorepo's root (contracts/, docs/)."""
    return REPO


@pytest.fixture(scope="session")
def kek() -> str:
    """A key-encryption key for this test session."""
    return generate_kek()
