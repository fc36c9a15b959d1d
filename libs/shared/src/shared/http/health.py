"""Liveness and readiness endpoints for orchestrators and load balancers.

``/health/live`` answers 200 whenever the event loop runs; it checks nothing else, so a slow
database never gets a healthy process restarted. ``/health/ready`` runs every readiness check
concurrently, each under its own timeout, and answers 503 (problem+json, code
``dependency.unavailable``) while any of them fails, so traffic is routed elsewhere.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

import structlog
from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from shared.errors import DependencyUnavailableError
from shared.http.problems import problem_response
from shared.resilience.timeouts import with_timeout

__all__ = [
    "DEFAULT_CHECK_TIMEOUT_S",
    "CheckResult",
    "ReadinessCheck",
    "health_router",
    "run_checks",
]

ReadinessCheck = Callable[[], Awaitable[None]]
"""A readiness probe: completes when the dependency is usable, raises otherwise."""

DEFAULT_CHECK_TIMEOUT_S = 2.0

log = structlog.get_logger(__name__)


@dataclass(frozen=True, slots=True)
class CheckResult:
    """The outcome of one readiness check; ``error`` is the exception's class name only."""

    name: str
    ok: bool
    latency_ms: float
    error: str | None = None

    def as_dict(self) -> dict[str, Any]:
        """Return the JSON shape served under ``checks``."""
        body: dict[str, Any] = {
            "status": "ok" if self.ok else "fail",
            "latency_ms": round(self.latency_ms, 2),
        }
        if self.error is not None:
            body["error"] = self.error
        return body


async def _run_one(name: str, check: ReadinessCheck, timeout_s: float) -> CheckResult:
    started = time.perf_counter()
    try:
        await with_timeout(check(), timeout_s, operation=f"readiness.{name}")
    except Exception as exc:
        elapsed = (time.perf_counter() - started) * 1000
        # The class name is enough for the response; messages may hold hosts, so the message
        # goes only to the log. No traceback: probes fail every few seconds during an outage and
        # a stack of "connection refused" adds noise, not information.
        log.warning(
            "readiness_check_failed", check=name, error=type(exc).__name__, reason=str(exc)[:200]
        )
        return CheckResult(name, ok=False, latency_ms=elapsed, error=type(exc).__name__)
    return CheckResult(name, ok=True, latency_ms=(time.perf_counter() - started) * 1000)


async def run_checks(
    checks: Mapping[str, ReadinessCheck], *, timeout_s: float = DEFAULT_CHECK_TIMEOUT_S
) -> dict[str, CheckResult]:
    """Run all ``checks`` concurrently, each within ``timeout_s``; never raises for a failure."""
    results = await asyncio.gather(
        *(_run_one(name, check, timeout_s) for name, check in checks.items())
    )
    return {result.name: result for result in results}


def health_router(
    readiness: Mapping[str, ReadinessCheck],
    *,
    timeout_s: float = DEFAULT_CHECK_TIMEOUT_S,
) -> APIRouter:
    """Return a router serving ``GET /health/live`` and ``GET /health/ready``.

    Args:
        readiness: named checks, e.g. ``{"postgres": ..., "kafka": ...}``; read at each
            request, so checks added to it later are served too.
        timeout_s: the budget of each check; a check over budget counts as failed.
    """
    checks = readiness
    router = APIRouter(prefix="/health", tags=["health"], include_in_schema=False)

    @router.get("/live")
    async def live() -> Response:
        return JSONResponse({"status": "ok"})

    @router.get("/ready")
    async def ready(request: Request) -> Response:
        results = await run_checks(checks, timeout_s=timeout_s)
        report = {name: result.as_dict() for name, result in results.items()}
        failed = sorted(name for name, result in results.items() if not result.ok)
        if not failed:
            return JSONResponse({"status": "ok", "checks": report})
        return problem_response(
            request,
            status=503,
            code=DependencyUnavailableError.code,
            detail=f"Not ready: {', '.join(failed)} unavailable.",
            extensions={"checks": report},
        )

    return router
