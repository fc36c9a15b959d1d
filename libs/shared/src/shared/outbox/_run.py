"""The relay process: what a service's ``entrypoints/relay.py`` calls."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import signal
from collections.abc import Callable

import structlog
from aiokafka import AIOKafkaProducer
from sqlalchemy import Table

from shared.messaging import create_producer
from shared.observability.metrics import Metrics
from shared.outbox._config import RelayConfig
from shared.outbox._relay import OutboxRelay
from shared.outbox._schema import DEFAULT_TABLE
from shared.settings import DatabaseSettings, KafkaSettings

__all__ = ["relay_producer_factory", "run_relay", "tune_gc"]

log = structlog.get_logger(__name__)


def relay_producer_factory(kafka: KafkaSettings, service: str) -> Callable[[], AIOKafkaProducer]:
    """Return a factory of the relay's producers: Ordo's idempotent ``acks=all`` settings.

    ``linger_ms=0``: the relay hands aiokafka a whole round before yielding, so records batch
    by themselves; lingering would only add its delay to every quiet-time event.
    """

    def factory() -> AIOKafkaProducer:
        return create_producer(kafka, client_id=f"{service}-outbox-relay", linger_ms=0)

    return factory


# Generation-0 collections every 10,000 container allocations instead of 700: the relay builds
# ~15 short-lived containers per row (record, header pairs, futures) and, at tens of thousands of
# rows a second, the default thresholds spent a third of its CPU in the collector (measured in
# docs/benchmarks.md). Nothing it allocates lives in long reference cycles.
_GC_THRESHOLDS = (10_000, 50, 1_000)


def tune_gc() -> None:
    """Tune this process's garbage collector for relaying; what :func:`run_relay` does.

    Freezes everything allocated so far (imports, settings) out of the collector's sight and
    raises the collection thresholds. For processes that do little besides relaying.
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(*_GC_THRESHOLDS)


async def run_relay(
    *,
    database: DatabaseSettings,
    kafka: KafkaSettings,
    service: str,
    table: Table | str = DEFAULT_TABLE,
    config: RelayConfig | None = None,
    metrics: Metrics | None = None,
    handle_signals: bool = True,
    stop: asyncio.Event | None = None,
    gc_tuning: bool = True,
) -> None:
    """Run one relay replica until SIGTERM/SIGINT, then finish the current round and exit.

    A service's ``entrypoints/relay.py`` configures logging, tracing and the metrics endpoint
    (it is a process of its own), then awaits this. Start as many replicas as you like: they
    share the lanes fairly and keep each key's order. ``stop`` ends it too (tools, tests);
    ``gc_tuning`` applies :func:`tune_gc` (leave it on in a relay process of its own).
    """

    relay = OutboxRelay(
        database=database,
        producer_factory=relay_producer_factory(kafka, service),
        service=service,
        table=table,
        config=config,
        metrics=metrics,
    )
    loop = asyncio.get_running_loop()
    installed: list[signal.Signals] = []
    if handle_signals:
        for signum in (signal.SIGTERM, signal.SIGINT):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(signum, relay.stop)
                installed.append(signum)
    watcher = asyncio.create_task(_stop_on(stop, relay)) if stop is not None else None
    if gc_tuning:
        tune_gc()
    log.info("outbox.relay.starting", service=service, table=relay.names.qualified)
    try:
        await relay.run()
    finally:
        if watcher is not None:
            watcher.cancel()
        for signum in installed:
            loop.remove_signal_handler(signum)
        log.info("outbox.relay.stopped", service=service)


async def _stop_on(event: asyncio.Event, relay: OutboxRelay) -> None:
    await event.wait()
    relay.stop()
