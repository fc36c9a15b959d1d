"""What the roles of one process share: a database engine, a relay doorbell, a Kafka probe.

Each is opened on first use and closed once, by the process that owns the
:class:`ProcessResources`, after every role has stopped; a role given them never closes them.
"""

from __future__ import annotations

from collections.abc import Callable, Collection

from sqlalchemy import Table
from sqlalchemy.ext.asyncio import AsyncEngine

from shared.db import create_engine
from shared.messaging import KafkaProbe
from shared.outbox import OutboxRelay, PgNotifyDoorbell
from shared.settings import ServiceSettings

__all__ = ["ProcessDoorbell", "ProcessResources"]


class ProcessDoorbell:
    """The relay doorbell of a process: wakes a relay in this process directly, NOTIFYs otherwise.

    A ``pg_notify`` costs a round trip on a connection of its own plus the listener's wake-up,
    for every commit that wrote outbox rows. When the relay of this process owns every lane, no
    other replica can be waiting for these rows, so ringing its in-process wake-up is enough;
    while it owns fewer (starting, rebalancing with other replicas, stopped) the notification
    goes out as well, so no row waits for a polling interval.
    """

    def __init__(self, notify: Callable[[], PgNotifyDoorbell]) -> None:
        """``notify`` opens the :class:`PgNotifyDoorbell`, on the first ring that needs one."""
        self._open = notify
        self._notify: PgNotifyDoorbell | None = None
        self._relays: list[OutboxRelay] = []
        self.local_rings = 0

    def attach(self, relay: OutboxRelay) -> None:
        """Ring ``relay`` (a relay of this process) directly from now on."""
        self._relays.append(relay)

    def ring(self, lanes: Collection[int] | None = None) -> None:
        """Wake the local relays' loops of ``lanes``; NOTIFY unless a relay owns every lane."""
        covered = False
        for relay in self._relays:
            relay.wakeup.ring(lanes)
            covered = covered or len(relay.owned_lanes) >= relay.config.lanes
        if covered:
            self.local_rings += 1
            return
        if self._notify is None:
            self._notify = self._open()
        self._notify.ring(lanes)

    async def close(self) -> None:
        """Close the notification connection, if one was opened."""
        notify, self._notify = self._notify, None
        if notify is not None:
            await notify.close()


class ProcessResources:
    """The database engine, relay doorbell and Kafka probe shared by the roles of one process.

    Args:
        settings: the service's settings; the engine's pool is ``settings.database``'s.
        name: the process's name (``orders``, ``orders-consumer``): PostgreSQL's
            ``application_name`` of its connections.
        outbox: the service's outbox table, whose relays the doorbell wakes (None: no outbox).
    """

    def __init__(
        self, settings: ServiceSettings, *, name: str, outbox: Table | str | None = None
    ) -> None:
        self.settings = settings
        self.name = name
        self._outbox = outbox
        self._engine: AsyncEngine | None = None
        self._doorbell: ProcessDoorbell | None = None
        self._kafka: KafkaProbe | None = None

    @property
    def engine(self) -> AsyncEngine:
        """The process's engine (created on first use)."""
        if self._engine is None:
            self._engine = create_engine(self.settings.database, application_name=self.name)
        return self._engine

    @property
    def doorbell(self) -> ProcessDoorbell:
        """The doorbell units of work ring after commits that wrote outbox rows."""
        if self._doorbell is None:
            outbox = self._outbox
            if outbox is None:
                raise RuntimeError(f"{self.name} declares no outbox: it has no relay to ring")
            self._doorbell = ProcessDoorbell(
                lambda: PgNotifyDoorbell(
                    self.settings.database, outbox, application_name=f"{self.name}-doorbell"[:63]
                )
            )
        return self._doorbell

    @property
    def kafka(self) -> KafkaProbe:
        """A Kafka readiness probe (one admin client, opened by the first check)."""
        if self._kafka is None:
            self._kafka = KafkaProbe(self.settings.kafka)
        return self._kafka

    def attach_relay(self, relay: OutboxRelay) -> None:
        """Let the doorbell wake ``relay``, which runs in this process."""
        self.doorbell.attach(relay)

    async def close(self) -> None:
        """Close the doorbell and the probe, then dispose of the engine (after every role)."""
        if self._doorbell is not None:
            await self._doorbell.close()
        if self._kafka is not None:
            await self._kafka.close()
        if self._engine is not None:
            await self._engine.dispose()
