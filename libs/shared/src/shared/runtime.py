"""The event loop every Ordo process runs on.

API processes run under uvicorn with ``loop="uvloop"`` (:mod:`shared.http.server`); consumers,
relays, workers and CLIs start theirs with :func:`run`, so every process has the same loop:
uvloop (libuv), whose transports and scheduling cost a fraction of the standard selector loop's
CPU on a saga consumer's many small socket round trips.
"""

from __future__ import annotations

from collections.abc import Coroutine
from typing import Any, TypeVar

import uvloop

__all__ = ["run"]

T = TypeVar("T")


def run(main: Coroutine[Any, Any, T]) -> T:
    """Run ``main`` to completion on a new uvloop event loop, like ``asyncio.run``."""
    return uvloop.run(main)
