"""Notifications' delivery worker alone: ``ordo-notifications-worker`` (health on 8305).

What the role does and how it stops: ``notifications.entrypoints.service``.
"""

from __future__ import annotations

from notifications.entrypoints.service import SPEC
from shared.process import run_service


def main() -> None:
    """Run the worker role alone until SIGTERM."""
    run_service(SPEC, roles="worker")


if __name__ == "__main__":
    main()
