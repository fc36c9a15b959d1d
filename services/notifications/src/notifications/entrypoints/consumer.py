"""Notifications' consumer alone: ``ordo-notifications-consumer`` (health on 8105).

What the role does and how it stops: ``notifications.entrypoints.service``.
"""

from __future__ import annotations

from notifications.entrypoints.service import SPEC
from shared.process import run_service


def main() -> None:
    """Run the consumer role alone until SIGTERM."""
    run_service(SPEC, roles="consumer")


if __name__ == "__main__":
    main()
