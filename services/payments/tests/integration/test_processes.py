"""The worker's console script as a process: it serves health and metrics, is woken across
processes by NOTIFY, and on SIGTERM drains and exits on its own."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from payments.adapters.persistence.wakeup import worker_doorbell
from payments.application.use_cases.request_payment import RequestPaymentInput
from payments.bootstrap import build_use_cases
from payments.domain.values import Money
from shared.inbox.testing import wait_until
from shared.settings import DatabaseSettings

from .conftest import Provider, wait_for_status

pytestmark = pytest.mark.integration

BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def environment(database: DatabaseSettings, tmp_path: Path, **extra: str) -> dict[str, str]:
    """The process environment: this test's database, no secret files, fast settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ORDO_")}
    secrets = tmp_path / "secrets"
    secrets.mkdir(exist_ok=True)
    return env | {
        "ORDO_SECRETS_DIR": str(secrets),
        "ORDO_ENVIRONMENT": "test",
        "ORDO_DATABASE__HOST": database.host,
        "ORDO_DATABASE__PORT": str(database.port),
        "ORDO_DATABASE__NAME": database.name,
        "ORDO_DATABASE__USER": database.user,
        "ORDO_DATABASE__PASSWORD": database.password.get_secret_value(),
        **extra,
    }


Spawn = Callable[[str, dict[str, str], Path], subprocess.Popen[bytes]]


@pytest.fixture
def spawn() -> Iterator[Spawn]:
    """Start a console script (output to a log file); killed at teardown if still running."""
    started: list[subprocess.Popen[bytes]] = []

    def start(script: str, env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
        with log.open("wb") as out:
            process = subprocess.Popen(
                [str(BIN / script)], env=env, stdout=out, stderr=subprocess.STDOUT
            )
        started.append(process)
        return process

    yield start
    for process in started:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)


def output(log: Path) -> str:
    """What the process wrote so far."""
    return log.read_text()


async def ready(port: int, process: subprocess.Popen[bytes], log: Path) -> None:
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=2) as client:

        async def answers() -> bool:
            assert process.poll() is None, output(log)
            try:
                return (await client.get("/health/ready")).status_code == 200
            except httpx.TransportError:
                return False

        await wait_until(answers, timeout_s=30, interval_s=0.1, message=f"port {port} ready")


async def test_the_worker_process_is_woken_by_notify_and_stops_on_sigterm(
    migrated: DatabaseSettings,
    sessions: async_sessionmaker[AsyncSession],
    engine: AsyncEngine,
    provider: Provider,
    spawn: Spawn,
    tmp_path: Path,
    org_id: uuid.UUID,
) -> None:
    port = free_port()
    log = tmp_path / "worker.log"
    env = environment(
        migrated,
        tmp_path,
        ORDO_WORKER_HEALTH_PORT=str(port),
        ORDO_PROVIDER__BASE_URL=provider.url,
        ORDO_WORKER__POLL_INTERVAL_S="60",  # only a NOTIFY can wake it within the test
    )
    process = spawn("ordo-payments-worker", env, log)
    await ready(port, process, log)
    await asyncio.sleep(0.5)  # let it finish its first round and its LISTEN
    bell = worker_doorbell(migrated, application_name="payments-tests-process-wake")
    try:
        order = uuid.uuid4()
        await build_use_cases(sessions, worker=bell).request_payment(
            RequestPaymentInput(org_id, order, Money(700, "EUR"), uuid.uuid4())
        )
        await wait_for_status(engine, order, "authorized", timeout_s=15)
    finally:
        await bell.close()
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=2) as client:
        metrics = (await client.get("/metrics")).text
    assert 'breaker_state{name="payment-provider"} 0.0' in metrics
    assert 'jobs_total{job="payments.authorize",outcome="succeeded"} 1.0' in metrics
    process.send_signal(signal.SIGTERM)
    # The worker drains and exits on its own (uvicorn's re-raised SIGTERM does not kill it).
    assert await asyncio.to_thread(process.wait, 20) == 0, output(log)
    assert "payments.worker.stopped" in output(log)
