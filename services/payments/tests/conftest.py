"""Payments test fixtures shared by unit and integration tests."""

from __future__ import annotations

import uuid

import pytest


@pytest.fixture
def org_id() -> uuid.UUID:
    """A fresh org (tenant) per test."""
    return uuid.uuid4()
