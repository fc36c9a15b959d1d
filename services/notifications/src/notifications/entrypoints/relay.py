"""Notifications' outbox relay alone: ``ordo-notifications-relay`` (health on 8205).

What the role does and how it stops: ``notifications.entrypoints.service``.
"""

from __future__ import annotations

from notifications.entrypoints.service import SPEC
from shared.process import run_service


def main() -> None:
    """Run the relay role alone until SIGTERM."""
    run_service(SPEC, roles="relay")


if __name__ == "__main__":
    main()
