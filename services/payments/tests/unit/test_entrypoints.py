"""Every console script of pyproject.toml resolves to a ``main`` (no work at import time)."""

from __future__ import annotations

import importlib
import tomllib
from pathlib import Path

import pytest

SCRIPTS = tomllib.loads((Path(__file__).resolve().parents[2] / "pyproject.toml").read_text())[
    "project"
]["scripts"]


@pytest.mark.parametrize("script", sorted(SCRIPTS))
def test_the_console_script_has_a_main(script: str) -> None:
    module, _, function = SCRIPTS[script].partition(":")
    assert callable(getattr(importlib.import_module(module), function))
