"""Gateway readiness against real servers: 200 when all answer, else 503 naming the absent one."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import socket
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import pytest
from asgi_lifespan import LifespanManager

from gateway.bootstrap import GatewaySettings, build_app
from shared.settings import KafkaSettings, RedisSettings

pytestmark = pytest.mark.integration


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@asynccontextmanager
async def gateway(settings: GatewaySettings) -> AsyncIterator[httpx.AsyncClient]:
    app = build_app(settings)
    async with LifespanManager(app) as manager:
        transport = httpx.ASGITransport(app=manager.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as client:
            yield client


async def test_ready_is_200_with_a_status_per_dependency(gateway_settings: GatewaySettings) -> None:
    async with gateway(gateway_settings) as client:
        live = await client.get("/health/live")
        ready = await client.get("/health/ready")
    assert live.status_code == 200
    assert ready.status_code == 200, ready.text
    checks = ready.json()["checks"]
    assert set(checks) == {"postgres", "kafka", "redis"}
    assert all(check["status"] == "ok" for check in checks.values())


@pytest.mark.parametrize("dependency", ["postgres", "kafka"])
async def test_ready_is_503_naming_an_unreachable_dependency(
    gateway_settings: GatewaySettings, dependency: str
) -> None:
    closed = free_port()  # nothing listens there
    if dependency == "postgres":
        broken = gateway_settings.database.model_copy(update={"port": closed})
        settings = gateway_settings.model_copy(update={"database": broken})
    else:
        settings = gateway_settings.model_copy(
            update={"kafka": KafkaSettings(bootstrap_servers=f"127.0.0.1:{closed}")}
        )
    async with gateway(settings) as client:
        ready = await client.get("/health/ready")
    assert ready.status_code == 503
    assert ready.headers["content-type"].startswith("application/problem+json")
    problem = ready.json()
    assert problem["status"] == 503
    assert dependency in problem["detail"]
    assert problem["checks"][dependency]["status"] == "fail"
    healthy = {"postgres", "kafka", "redis"} - {dependency}
    assert all(problem["checks"][name]["status"] == "ok" for name in healthy), problem["checks"]
    assert gateway_settings.database.password.get_secret_value() not in ready.text


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[tuple[int, subprocess.Popen[bytes]]]:
    """A real redis-server of this test's own, so stopping it disturbs no other test."""
    binary = shutil.which("redis-server")
    assert binary, "redis-server is installed by infra/redis/ctl.sh install"
    port = free_port()
    args = [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", ""]
    proc = subprocess.Popen([*args, "--dir", str(tmp_path)], stdout=subprocess.DEVNULL)
    yield port, proc
    proc.terminate()
    proc.wait(10)


async def wait_status(
    client: httpx.AsyncClient, status: int, deadline_s: float = 20
) -> httpx.Response:
    async with asyncio.timeout(deadline_s):
        while True:
            response = await client.get("/health/ready")
            if response.status_code == status:
                return response
            await asyncio.sleep(0.1)


async def test_ready_turns_503_when_redis_stops_and_200_when_it_returns(
    gateway_settings: GatewaySettings, private_redis: tuple[int, subprocess.Popen[bytes]]
) -> None:
    port, proc = private_redis
    settings = gateway_settings.model_copy(
        update={"redis": RedisSettings(port=port, socket_timeout_s=0.5)}
    )
    async with gateway(settings) as client:
        await wait_status(client, 200)
        proc.terminate()
        proc.wait(10)
        down = await wait_status(client, 503)
        assert "redis" in down.json()["detail"]
        assert down.json()["checks"]["redis"]["status"] == "fail"
        args = [str(a) for a in proc.args]  # type: ignore[union-attr]
        restarted = await asyncio.create_subprocess_exec(*args, stdout=subprocess.DEVNULL)
        try:
            await wait_status(client, 200)
        finally:
            restarted.terminate()
            await restarted.wait()


async def test_the_api_process_serves_readiness_over_http(
    gateway_settings: GatewaySettings,
) -> None:
    port = free_port()
    db, redis = gateway_settings.database, gateway_settings.redis
    env = {
        **os.environ,
        "ORDO_HTTP_PORT": str(port),
        "ORDO_DATABASE__HOST": db.host,
        "ORDO_DATABASE__PORT": str(db.port),
        "ORDO_DATABASE__NAME": db.name,
        "ORDO_DATABASE__USER": db.user,
        "ORDO_DATABASE__PASSWORD": db.password.get_secret_value(),
        "ORDO_KAFKA__BOOTSTRAP_SERVERS": gateway_settings.kafka.bootstrap_servers,
        "ORDO_REDIS__PORT": str(redis.port),
        "ORDO_REDIS__PASSWORD": redis.password.get_secret_value(),
    }
    binary = Path(sys.executable).with_name("ordo-gateway-api")
    proc = await asyncio.create_subprocess_exec(
        str(binary), env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
            async with asyncio.timeout(30):
                while True:
                    try:
                        response = await client.get("/health/ready")
                        break
                    except httpx.TransportError:
                        await asyncio.sleep(0.1)
            # The process found the public contract it enforces and serves.
            document = await client.get("/v1/openapi.json")
        assert response.status_code == 200, response.text
        assert response.headers["x-content-type-options"] == "nosniff"
        assert document.status_code == 200
        assert "/v1/orders/{order_id}/cancel" in document.json()["paths"]
    finally:
        proc.send_signal(signal.SIGTERM)
        async with asyncio.timeout(20):
            raw, _ = await proc.communicate()
        output = raw.decode()
    # uvicorn re-raises SIGTERM after a graceful shutdown, so the exit status is -SIGTERM.
    assert proc.returncode == 0, output  # GracefulServer: no re-raised SIGTERM
    # The chassis' runner closes the app's lifespan itself, then says the process stopped.
    assert "process.stopped" in output
    assert db.password.get_secret_value() not in output
