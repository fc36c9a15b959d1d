"""Catalog's job worker alone: ``ordo-catalog-worker`` (health on 8302).

What the role does and how it stops: ``catalog.entrypoints.service``.
"""

from __future__ import annotations

from catalog.entrypoints.service import SPEC
from shared.process import run_service


def main() -> None:
    """Run the worker role alone until SIGTERM."""
    run_service(SPEC, roles="worker")


if __name__ == "__main__":
    main()
