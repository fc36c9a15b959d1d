"""A service's relay process: the relay plus its small health/metrics app.

``bootstrap.build_relay`` calls :func:`build_relay_process`; ``entrypoints/relay.py`` runs it::

    relay, health = build_relay(settings)
    shared.runtime.run(serve_relay(relay, health, host=..., port=..., name=...))

Not re-exported by ``shared.outbox``: it needs ``shared.db``, which itself imports the outbox.
"""

from __future__ import annotations

from functools import partial

from fastapi import FastAPI
from sqlalchemy import Table

from shared.db import check_postgres, create_engine
from shared.http.app import closing_lifespan, create_app
from shared.http.server import serve_with_worker
from shared.messaging import KafkaProbe
from shared.outbox._relay import OutboxRelay
from shared.outbox._run import relay_producer_factory
from shared.settings import ServiceSettings

__all__ = ["build_relay_process", "serve_relay"]


def build_relay_process(
    settings: ServiceSettings, *, table: Table | str, version: str
) -> tuple[OutboxRelay, FastAPI]:
    """Wire one relay replica of ``table`` and the app that reports its readiness and metrics.

    Readiness checks PostgreSQL (on a one-connection pool of its own) and Kafka.
    """
    service = settings.service_name
    relay = OutboxRelay(
        database=settings.database,
        producer_factory=relay_producer_factory(settings.kafka, service),
        service=service,
        table=table,
    )
    engine = create_engine(
        settings.database.model_copy(update={"pool_size": 1, "max_overflow": 1}),
        application_name=f"{service}-relay-health",
    )
    kafka = KafkaProbe(settings.kafka)
    health = create_app(
        title=f"Ordo {service} relay",
        version=version,
        settings=settings,
        readiness={"postgres": partial(check_postgres, engine), "kafka": kafka},
        lifespan=closing_lifespan(kafka.close, engine.dispose),
        readiness_timeout_s=settings.readiness_timeout_s,
    )
    return relay, health


async def serve_relay(
    relay: OutboxRelay, health: FastAPI, *, host: str, port: int, name: str
) -> None:
    """Relay and serve ``health`` on ``host:port`` until SIGTERM/SIGINT.

    On a signal the health server stops first, then the relay finishes its round and returns.
    """
    await serve_with_worker(relay.run(), relay.stop, health, host=host, port=port, name=name)
