"""shared.process: choosing roles, the process doorbell, and one loop running several roles."""

from __future__ import annotations

import asyncio
import socket
from types import SimpleNamespace
from typing import Any, cast

import httpx
import pytest
from fastapi import FastAPI

from shared.http import create_app
from shared.outbox import OutboxRelay, RelayWakeup
from shared.process import (
    ProcessDoorbell,
    ProcessResources,
    ServiceSpec,
    Worker,
    build_units,
    serve_roles,
)
from shared.settings import ServiceSettings

SETTINGS = ServiceSettings(service_name="spec", environment="test")


async def _ok() -> None:
    return None


def _api(settings: ServiceSettings, _resources: ProcessResources) -> FastAPI:
    return create_app(title="spec", version="1", settings=settings, readiness={"own": _ok})


def _spec(workers: list[Worker]) -> ServiceSpec[ServiceSettings]:
    return ServiceSpec(
        distribution="ordo-shared",
        settings=lambda: SETTINGS,
        api=_api,
        workers=lambda _settings, _resources: workers,
        health_ports=lambda _settings: {"worker": 1},
    )


def test_roles_are_chosen_from_all_or_a_list_in_a_fixed_order() -> None:
    spec = _spec([])
    assert spec.roles == ("api", "worker")
    assert spec.select("all") == ("api", "worker")
    assert spec.select(" worker , api") == ("api", "worker")
    assert spec.select(["worker"]) == ("worker",)
    with pytest.raises(ValueError, match="asked for consumer"):
        spec.select("api,consumer")
    with pytest.raises(ValueError, match="asked for none"):
        spec.select(" , ")


def _relay(lanes: int, owned: int) -> Any:
    return SimpleNamespace(
        wakeup=RelayWakeup(),
        config=SimpleNamespace(lanes=lanes),
        owned_lanes=frozenset(range(owned)),
    )


def test_the_doorbell_wakes_a_local_relay_and_notifies_only_while_it_lacks_lanes() -> None:
    notified: list[int] = []
    bell = ProcessDoorbell(
        lambda: cast(Any, SimpleNamespace(ring=lambda lanes=None: notified.append(1)))
    )
    bell.ring()  # no relay here: only the NOTIFY reaches one
    assert (len(notified), bell.local_rings) == (1, 0)
    relay = _relay(lanes=4, owned=2)
    bell.attach(cast(OutboxRelay, relay))
    bell.ring()  # another replica owns lanes: it must hear too
    assert (len(notified), relay.wakeup.generation) == (2, 1)
    relay.owned_lanes = frozenset(range(4))
    bell.ring()  # every lane is here: the local wake-up is enough
    assert (len(notified), relay.wakeup.generation, bell.local_rings) == (2, 2, 1)


def _port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def _until_ready(port: int) -> dict[str, Any]:
    async with httpx.AsyncClient() as client:
        for _ in range(200):
            try:
                answer = await client.get(f"http://127.0.0.1:{port}/health/ready")
                return dict(answer.json())
            except httpx.TransportError:
                await asyncio.sleep(0.05)
    raise AssertionError("never served")


async def test_one_process_serves_every_role_and_stops_workers_before_closing_them() -> None:
    stopped, events = asyncio.Event(), []

    async def run() -> None:
        await stopped.wait()
        events.append("worker returned")

    async def close() -> None:
        events.append("worker closed")

    resources = ProcessResources(SETTINGS, name="spec")
    spec = _spec([Worker("loop", run, stopped.set, close)])
    units = build_units(spec, SETTINGS, spec.roles, resources)
    # The worker's own readiness (its database) is not what this test is about.
    units[1].app.state.readiness["postgres"] = _ok
    stop, port = asyncio.Event(), _port()
    serving = asyncio.create_task(serve_roles(units, host="127.0.0.1", port=port, stop=stop))
    ready = await _until_ready(port)
    stop.set()
    await asyncio.wait_for(serving, 10)
    await resources.close()
    assert ready == {
        "status": "ok",
        "checks": {
            "api.own": {"status": "ok", "latency_ms": ready["checks"]["api.own"]["latency_ms"]},
            "worker.postgres": {
                "status": "ok",
                "latency_ms": ready["checks"]["worker.postgres"]["latency_ms"],
            },
        },
    }
    assert events == ["worker returned", "worker closed"]


async def test_a_worker_that_fails_stops_the_whole_process_and_its_error_is_raised() -> None:
    async def crash() -> None:
        await asyncio.sleep(0.2)
        raise RuntimeError("the loop broke")

    resources = ProcessResources(SETTINGS, name="spec")
    spec = _spec([Worker("crashing", crash, lambda: None)])
    units = build_units(spec, SETTINGS, spec.roles, resources)
    with pytest.raises(RuntimeError, match="the loop broke"):
        await asyncio.wait_for(serve_roles(units, host="127.0.0.1", port=_port()), 10)
    await resources.close()


def test_a_role_run_alone_serves_health_on_its_settings_port_by_convention() -> None:
    from shared.process._spec import settings_ports  # noqa: PLC0415
    from shared.settings import ServiceSettings  # noqa: PLC0415

    class WithRoles(ServiceSettings):
        consumer_health_port: int = 8103
        relay_health_port: int = 8203

    assert settings_ports(WithRoles()) == {"consumer": 8103, "relay": 8203}
    assert settings_ports(ServiceSettings()) == {}
