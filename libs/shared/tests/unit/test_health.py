from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import httpx
import pytest
from fastapi import FastAPI

from shared.http import PROBLEM_CONTENT_TYPE, run_checks

DSN = "postgresql://ordo:hunter2@db.internal:5432/orders"


async def healthy() -> None:
    await asyncio.sleep(0)


async def refused() -> None:
    raise ConnectionRefusedError(f"could not connect to {DSN}")


async def hangs() -> None:
    await asyncio.sleep(10)


@pytest.fixture
def serve(
    make_app: Callable[..., FastAPI], client_for: Callable[[FastAPI], httpx.AsyncClient]
) -> Callable[..., httpx.AsyncClient]:
    def build(checks: dict[str, Callable[[], object]], **kwargs: object) -> httpx.AsyncClient:
        return client_for(make_app(readiness=checks, **kwargs))

    return build


async def test_liveness_is_always_ok(serve: Callable[..., httpx.AsyncClient]) -> None:
    async with serve({"postgres": refused}) as http:
        response = await http.get("/health/live")

    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


async def test_ready_when_every_check_passes(serve: Callable[..., httpx.AsyncClient]) -> None:
    async with serve({"postgres": healthy, "kafka": healthy}) as http:
        response = await http.get("/health/ready")

    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert set(body["checks"]) == {"postgres", "kafka"}
    for check in body["checks"].values():
        assert check["status"] == "ok"
        assert check["latency_ms"] >= 0


async def test_ready_without_checks(serve: Callable[..., httpx.AsyncClient]) -> None:
    async with serve({}) as http:
        response = await http.get("/health/ready")

    assert response.status_code == 200
    assert response.json() == {"status": "ok", "checks": {}}


async def test_not_ready_when_a_check_fails(serve: Callable[..., httpx.AsyncClient]) -> None:
    async with serve({"postgres": refused, "kafka": healthy}) as http:
        response = await http.get("/health/ready")

    assert response.status_code == 503
    assert response.headers["content-type"] == PROBLEM_CONTENT_TYPE
    body = response.json()
    assert body["code"] == "dependency.unavailable"
    assert body["detail"] == "Not ready: postgres unavailable."
    assert body["checks"]["kafka"]["status"] == "ok"
    assert body["checks"]["postgres"]["status"] == "fail"
    assert body["checks"]["postgres"]["error"] == "ConnectionRefusedError"
    for secret in ("hunter2", "db.internal", "postgresql://"):
        assert secret not in response.text


async def test_a_hanging_check_times_out(serve: Callable[..., httpx.AsyncClient]) -> None:
    async with serve({"redis": hangs, "kafka": refused}, readiness_timeout_s=0.05) as http:
        started = time.perf_counter()
        response = await http.get("/health/ready")
        elapsed = time.perf_counter() - started

    assert response.status_code == 503
    body = response.json()
    assert body["detail"] == "Not ready: kafka, redis unavailable."
    assert body["checks"]["redis"]["error"] == "OperationTimeoutError"
    assert elapsed < 1.0


async def test_checks_run_concurrently() -> None:
    async def slow() -> None:
        await asyncio.sleep(0.2)

    started = time.perf_counter()
    results = await run_checks({f"dep{i}": slow for i in range(5)}, timeout_s=2.0)
    elapsed = time.perf_counter() - started

    assert all(result.ok for result in results.values())
    assert elapsed < 0.8  # five 200 ms checks side by side, not one after the other (1 s)


async def test_a_failing_check_is_logged_with_its_message(
    serve: Callable[..., httpx.AsyncClient], logs: object
) -> None:
    async with serve({"postgres": refused}) as http:
        await http.get("/health/ready")

    [line] = logs.events("readiness_check_failed")  # type: ignore[attr-defined]
    assert line["check"] == "postgres"
    assert line["error"] == "ConnectionRefusedError"
    assert "hunter2" not in str(line)  # the URL password is scrubbed from the log, too
