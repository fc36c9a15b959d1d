"""Running a service's processes under uvicorn, the same way in every service.

- :func:`serve_http`: an API process (one uvicorn worker, uvloop, httptools, no access log:
  the chassis logs requests itself), until SIGTERM.
- :func:`serve_with_worker`: a background process (relay, consumer) that still answers
  ``/health/*`` and ``/metrics`` on a port of its own, so infra probes every process alike.
- :class:`GracefulServer`: the uvicorn server all of them run. uvicorn re-raises the SIGTERM it
  handled once ``serve()`` returns, which (with the default handler) kills the process before
  the code after ``serve()`` runs: a worker would never finish its round, a consumer never flush
  its offsets. This server handles the signal once and lets the process end on its own.
"""

from __future__ import annotations

import asyncio
import signal
import threading
from collections.abc import Callable, Coroutine, Iterator
from contextlib import contextmanager
from typing import Any, Literal

import uvicorn
from fastapi import FastAPI

from shared.settings import ServiceSettings

__all__ = ["GracefulServer", "serve_http", "serve_with_worker", "server_config"]


class GracefulServer(uvicorn.Server):
    """A uvicorn server that turns SIGTERM/SIGINT into a graceful stop and nothing more."""

    @contextmanager
    def capture_signals(self) -> Iterator[None]:
        """Route SIGTERM/SIGINT to ``handle_exit`` while serving; never re-raise them after."""
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        original = {sig: signal.signal(sig, self.handle_exit) for sig in _SIGNALS}
        try:
            yield
        finally:
            for sig, handler in original.items():
                signal.signal(sig, handler)


_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def server_config(
    app: FastAPI, host: str, port: int, *, lifespan: Literal["auto", "on", "off"] = "auto"
) -> uvicorn.Config:
    """The uvicorn configuration of every Ordo server: uvloop, httptools, no access log.

    ``lifespan="off"`` for a process that opens and closes the app's lifespan itself, around
    other work than the server's (:mod:`shared.process`).
    """
    return uvicorn.Config(
        app,
        host=host,
        port=port,
        loop="uvloop",
        http="httptools",
        lifespan=lifespan,
        log_config=None,
        access_log=False,
        server_header=False,
        timeout_graceful_shutdown=10,
    )


def serve_http(app: FastAPI, settings: ServiceSettings) -> None:
    """Serve ``app`` on ``settings.http_host:http_port`` until SIGTERM/SIGINT (blocking)."""
    GracefulServer(server_config(app, settings.http_host, settings.http_port)).run()


async def serve_with_worker(
    worker: Coroutine[Any, Any, None],
    stop: Callable[[], None],
    health: FastAPI,
    *,
    host: str,
    port: int,
    name: str,
) -> None:
    """Run ``worker`` beside a health server until either ends; then stop both.

    uvicorn turns SIGTERM/SIGINT into a graceful end of the server; ``stop`` then asks the worker
    to finish its round. A failure of whichever ended first is raised once both are done.
    """
    server = GracefulServer(server_config(health, host, port))
    working = asyncio.create_task(worker, name=name)
    serving = asyncio.create_task(server.serve(), name=f"{name}-health")
    done, _ = await asyncio.wait({working, serving}, return_when=asyncio.FIRST_COMPLETED)
    stop()
    server.should_exit = True
    await asyncio.gather(working, serving, return_exceptions=True)
    for task in done:
        task.result()
