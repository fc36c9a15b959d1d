"""A service's processes declared once: its roles and how each is built."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from fastapi import FastAPI
from sqlalchemy import Table
from sqlalchemy.ext.asyncio import AsyncEngine

from shared.housekeeping import Chore
from shared.http.app import Closer
from shared.inbox.process import ConsumerProcess
from shared.periodic import PeriodicJob
from shared.process._resources import ProcessResources
from shared.settings import ServiceSettings

__all__ = ["ROLES", "Consumers", "ServiceSpec", "Worker"]

ROLES: tuple[str, ...] = ("api", "consumer", "relay", "worker")
"""Every role, in the order a process starts them (and stops them after its HTTP server)."""

S = TypeVar("S", bound=ServiceSettings)


@dataclass(frozen=True, slots=True)
class Consumers:
    """A service's consumer process and the partition count of the topics it consumes (its
    retry lanes and dead-letter topics are created with as many)."""

    process: ConsumerProcess
    partitions: int


@dataclass(frozen=True, slots=True)
class Worker:
    """A background loop of a service: a queue worker, a sweeper, a periodic job.

    Attributes:
        name: the name of its task (and of the process's log lines about it).
        run: works until ``stop`` is called, then returns.
        stop: asks ``run`` to finish what it is doing and return; must not block.
        close: releases what the loop used, once ``run`` has returned (its own clients).
    """

    name: str
    run: Callable[[], Awaitable[None]]
    stop: Callable[[], None]
    close: Closer | None = None

    @classmethod
    def periodic(cls, job: PeriodicJob) -> Worker:
        """A periodic job as a worker: runs now and every interval until stopped."""
        return cls(job.name, job.run, job.stop)


def settings_ports(settings: ServiceSettings) -> Mapping[str, int]:
    """The health ports of roles run alone, by convention the settings ``<role>_health_port``
    (``consumer_health_port``, ``relay_health_port``, ``worker_health_port``) a service has."""
    ports: dict[str, int] = {}
    for role in ROLES:
        port = getattr(settings, f"{role}_health_port", None)
        if isinstance(port, int):
            ports[role] = port
    return ports


@dataclass(frozen=True)
class ServiceSpec(Generic[S]):
    """Everything a service runs, declared once; the chassis runs any subset in one process.

    Each builder takes the settings and the :class:`ProcessResources` of the process it runs
    in (one engine, one relay doorbell), and must take its engine and relay doorbell from there
    so that roles in one process share them.

    Attributes:
        distribution: the service's Python distribution (``ordo-orders``): its version.
        settings: reads the settings (the settings class).
        api: builds the API app (routes, its own lifespan).
        consumers: builds the consumer process.
        outbox: the outbox table; the chassis runs its relay (None: the service has no relay).
        workers: builds the background loops (None: no worker role).
        housekeeping: builds the service's periodic deletions on the process's engine
            (``<service>/housekeeping.py``, :mod:`shared.housekeeping`); they run with the
            relay role, which then leaves its outbox cleanup to them.
        health_ports: the port each role other than the API serves ``/health`` and
            ``/metrics`` on when it runs alone (the split layout); by default the settings'
            ``<role>_health_port`` fields (:func:`settings_ports`).
    """

    distribution: str
    settings: Callable[[], S]
    api: Callable[[S, ProcessResources], FastAPI] | None = None
    consumers: Callable[[S, ProcessResources], Consumers] | None = None
    outbox: Table | None = None
    workers: Callable[[S, ProcessResources], Sequence[Worker]] | None = None
    housekeeping: Callable[[S, AsyncEngine], Sequence[Chore]] | None = None
    health_ports: Callable[[S], Mapping[str, int]] = field(default=settings_ports)

    @property
    def roles(self) -> tuple[str, ...]:
        """The roles this service has, in :data:`ROLES` order."""
        declared = {
            "api": self.api,
            "consumer": self.consumers,
            "relay": self.outbox,
            "worker": self.workers,
        }
        return tuple(role for role in ROLES if declared[role] is not None)

    def select(self, roles: str | Iterable[str]) -> tuple[str, ...]:
        """The roles to run from ``"all"`` or a comma-separated list (``ORDO_ROLES``).

        Raises:
            ValueError: nothing chosen, or a role this service does not have.
        """
        names = roles.split(",") if isinstance(roles, str) else list(roles)
        wanted = {name.strip() for name in names if name.strip()}
        if "all" in wanted:
            wanted = (wanted - {"all"}) | set(self.roles)
        unknown = sorted(wanted - set(self.roles))
        if unknown or not wanted:
            raise ValueError(
                f"{self.distribution} has the roles {', '.join(self.roles)} (or 'all'); "
                f"asked for {', '.join(unknown) or 'none'}"
            )
        return tuple(role for role in self.roles if role in wanted)
