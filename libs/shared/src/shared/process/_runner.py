"""Running the chosen roles of a service in one event loop, behind one HTTP server."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Sequence
from contextlib import AsyncExitStack
from functools import partial
from importlib.metadata import version
from typing import Any

import structlog
from fastapi import FastAPI

from shared.db import check_postgres
from shared.housekeeping import RELAY_CLEANUP_OFF, Housekeeping
from shared.http.app import create_app
from shared.http.server import GracefulServer, server_config
from shared.inbox.process import ConsumerProcess
from shared.observability import configure_process
from shared.outbox import OutboxRelay, RelayConfig, relay_producer_factory
from shared.process._resources import ProcessResources
from shared.process._spec import ServiceSpec, Worker
from shared.runtime import run
from shared.settings import ServiceSettings

__all__ = ["build_units", "run_service", "serve_roles"]

log = structlog.get_logger(__name__)


# -- one unit per role: its app, how it starts, how it stops ---------------------------------


class Unit:
    """One role of a process: the app that serves it (API or health) and its background work.

    Subclasses start their work in :meth:`start` (returning the tasks a failure of which ends
    the process) and finish it in :meth:`stop`; the app's lifespan is the runner's business.
    """

    def __init__(self, role: str, app: FastAPI) -> None:
        self.role = role
        self.app = app

    async def start(self) -> list[asyncio.Task[None]]:
        """Start the role's background work; return the tasks to watch."""
        return []

    async def stop(self) -> None:
        """Finish the role's work in progress and release what it holds."""


class _Consumers(Unit):
    def __init__(self, role: str, app: FastAPI, process: ConsumerProcess, partitions: int) -> None:
        super().__init__(role, app)
        self._process = process
        self._partitions = partitions

    async def start(self) -> list[asyncio.Task[None]]:
        await self._process.start(partitions=self._partitions)
        return []

    async def stop(self) -> None:
        # Each consumer finishes its batch and flushes its offset commits before it returns.
        # The engine is the process's (ProcessResources), disposed of after every role stopped.
        await self._process.stop(dispose_engine=False)


class _Loops(Unit):
    """Background loops (a relay, workers): each in a task, stopped and awaited together."""

    def __init__(self, role: str, app: FastAPI, workers: Sequence[Worker]) -> None:
        super().__init__(role, app)
        self._workers = list(workers)
        self._tasks: list[asyncio.Task[None]] = []

    async def start(self) -> list[asyncio.Task[None]]:
        self._tasks = [
            asyncio.create_task(_run(worker), name=worker.name) for worker in self._workers
        ]
        return list(self._tasks)

    async def stop(self) -> None:
        for worker in self._workers:
            worker.stop()
        # A failure was reported when the task ended; here only the ending matters.
        await asyncio.gather(*self._tasks, return_exceptions=True)
        for worker in self._workers:
            if worker.close is not None:
                await worker.close()


async def _run(worker: Worker) -> None:
    await worker.run()


def build_units(
    spec: ServiceSpec[Any],
    settings: ServiceSettings,
    roles: Sequence[str],
    resources: ProcessResources,
) -> list[Unit]:
    """Build the ``roles`` of ``spec`` on ``resources``, in :data:`~shared.process.ROLES` order."""
    release = version(spec.distribution)
    service = settings.service_name
    units: list[Unit] = []
    if "api" in roles and spec.api is not None:
        units.append(Unit("api", spec.api(settings, resources)))
    if "consumer" in roles and spec.consumers is not None:
        consumers = spec.consumers(settings, resources)
        process = consumers.process
        units.append(_Consumers("consumer", process.health, process, consumers.partitions))
    if "relay" in roles and spec.outbox is not None:
        chores = spec.housekeeping(settings, resources.engine) if spec.housekeeping else ()
        relay = OutboxRelay(
            database=settings.database,
            producer_factory=relay_producer_factory(settings.kafka, service),
            service=service,
            table=spec.outbox,
            # The service's housekeeping purges the outbox (with its metrics) instead.
            config=RelayConfig(cleanup_interval_s=RELAY_CLEANUP_OFF) if chores else None,
        )
        resources.attach_relay(relay)
        checks = {"postgres": partial(check_postgres, resources.engine), "kafka": resources.kafka}
        health = _health_app(settings, f"Ordo {service} relay", release, checks)
        loops = [Worker(f"{service}-relay", relay.run, relay.stop)]
        if chores:
            keeper = Housekeeping(chores)
            loops.append(Worker(f"{service}-housekeeping", keeper.run, keeper.stop))
        units.append(_Loops("relay", health, loops))
    if "worker" in roles and spec.workers is not None:
        workers = spec.workers(settings, resources)
        checks = {"postgres": partial(check_postgres, resources.engine)}
        health = _health_app(settings, f"Ordo {service} worker", release, checks)
        units.append(_Loops("worker", health, workers))
    return units


def _health_app(
    settings: ServiceSettings, title: str, release: str, readiness: dict[str, Any]
) -> FastAPI:
    return create_app(
        title=title,
        version=release,
        settings=settings,
        readiness=readiness,
        readiness_timeout_s=settings.readiness_timeout_s,
    )


def combine_readiness(units: Sequence[Unit]) -> FastAPI:
    """Make the first unit's app (the API when there is one) the process's only HTTP app.

    With several roles, its ``/health/ready`` runs every role's checks, named
    ``<role>.<check>`` (``consumer.kafka``), and answers 503 while any of them fails;
    ``/metrics`` serves every role already (one registry per process).
    """
    host = units[0].app
    if len(units) > 1:
        merged = {
            f"{unit.role}.{name}": check
            for unit in units
            for name, check in unit.app.state.readiness.items()
        }
        live = host.state.readiness
        live.clear()
        live.update(merged)
    return host


# -- the process ----------------------------------------------------------------------------


async def serve_roles(
    units: Sequence[Unit], *, host: str, port: int, stop: asyncio.Event | None = None
) -> None:
    """Run ``units`` behind one HTTP server on ``host:port`` until SIGTERM/SIGINT (or ``stop``).

    Start-up: every app's lifespan opens (in role order), then every role starts, then the
    server. Shutdown, on a signal or when a background task ends: the server stops accepting
    and finishes its requests; consumers finish their batches and flush their offsets; the
    relay finishes its round; workers finish theirs and close; the lifespans close (in reverse
    order). Whatever ended a background task is raised once everything has stopped.
    """
    app = combine_readiness(units)
    async with AsyncExitStack() as lifespans:
        for unit in units:
            await lifespans.enter_async_context(unit.app.router.lifespan_context(unit.app))
        started: list[Unit] = []
        failures: list[BaseException] = []
        try:
            watched: list[asyncio.Task[None]] = []
            for unit in units:
                watched += await unit.start()
                started.append(unit)
            log.info("process.started", roles=[u.role for u in units], port=port)
            failures = await _serve(app, host, port, watched, stop)
        finally:
            for unit in started:
                await unit.stop()
                log.info("process.role_stopped", role=unit.role)
    log.info("process.stopped", roles=[u.role for u in units])
    if failures:
        raise failures[0]


async def _serve(
    app: FastAPI,
    host: str,
    port: int,
    watched: list[asyncio.Task[None]],
    stop: asyncio.Event | None,
) -> list[BaseException]:
    server = GracefulServer(server_config(app, host, port, lifespan="off"))
    serving = asyncio.create_task(_serve_http(server), name="http")
    stopping = asyncio.create_task((stop or asyncio.Event()).wait(), name="stop")
    done, _ = await asyncio.wait({serving, stopping, *watched}, return_when=asyncio.FIRST_COMPLETED)
    server.should_exit = True
    stopping.cancel()
    await asyncio.gather(serving, stopping, return_exceptions=True)
    log.info("process.http_stopped")
    failures: list[BaseException] = []
    for task in done:
        if task in (serving, stopping) or task.cancelled():
            continue
        error = task.exception()
        log.error("process.task_ended", task=task.get_name(), error=repr(error))
        failures.append(error or RuntimeError(f"{task.get_name()} ended before a stop"))
    if serving in done and serving.exception() is not None:
        failures.append(serving.exception())  # type: ignore[arg-type]
    return failures


async def _serve_http(server: GracefulServer) -> None:
    try:
        await server.serve()
    except SystemExit as exit_:  # uvicorn exits the process when it cannot bind its port
        raise RuntimeError(f"the HTTP server did not start (exit code {exit_.code})") from None


def run_service(spec: ServiceSpec[Any], roles: str | None = None) -> None:
    """A service's console script: run ``roles`` (default: ``ORDO_ROLES``, else all) until
    SIGTERM.

    One role alone keeps the split layout's names and ports: the process is
    ``<service>-<role>`` and serves on the role's health port (the API on ``ORDO_HTTP_PORT``).
    Several roles make one process named ``<service>`` serving on ``ORDO_HTTP_PORT``.
    """
    settings = spec.settings()
    chosen = spec.select(roles if roles is not None else settings.roles)
    alone = chosen[0] if len(chosen) == 1 else None
    name = configure_process(
        settings, version(spec.distribution), alone if alone != "api" else None
    )
    port = settings.http_port
    if alone is not None and alone != "api":
        port = spec.health_ports(settings)[alone]
    run(_main(spec, settings, chosen, name=name, port=port))


async def _main(
    spec: ServiceSpec[Any], settings: ServiceSettings, roles: Sequence[str], *, name: str, port: int
) -> None:
    resources = ProcessResources(settings, name=name, outbox=spec.outbox)
    try:
        units = build_units(spec, settings, roles, resources)
        # What start-up built (modules, apps, schemas) lives as long as the process: out of the
        # collector's sight, a full collection no longer walks it, pausing every role at once.
        gc.collect()
        gc.freeze()
        await serve_roles(units, host=settings.http_host, port=port)
    finally:
        await resources.close()
