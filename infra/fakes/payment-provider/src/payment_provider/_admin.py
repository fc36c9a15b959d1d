"""Operator endpoints: health probes and ``/admin`` to steer the fake at runtime.

These never pass the chaos gate: tests must be able to end an outage during one.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response

from payment_provider._chaos import OUTCOMES
from payment_provider._models import Behaviour, OutageOut, OutageRequest
from payment_provider._provider import ProviderDep

health_router = APIRouter(prefix="/health", tags=["health"])
admin_router = APIRouter(prefix="/admin", tags=["admin"])

_OK = {"status": "ok"}


@health_router.get("")
@health_router.get("/live")
@health_router.get("/ready")
async def health() -> dict[str, str]:
    """Always ok while the process serves: outages are simulated behind /v1, not here."""
    return _OK


@admin_router.get("/behaviour", response_model=Behaviour)
async def get_behaviour(provider: ProviderDep) -> Behaviour:
    """The latency and error rates in force."""
    return provider.chaos.behaviour


@admin_router.put("/behaviour", response_model=Behaviour)
async def put_behaviour(behaviour: Behaviour, provider: ProviderDep) -> Behaviour:
    """Replace latency and error rates; omitted fields become 0."""
    await provider.chaos.set_behaviour(behaviour)
    return behaviour


@admin_router.get("/outages", response_model=list[OutageOut])
async def list_outages(provider: ProviderDep) -> list[OutageOut]:
    """Outage windows not yet over."""
    return provider.chaos.outages()


@admin_router.post("/outages", status_code=201, response_model=OutageOut)
async def add_outage(request: OutageRequest, provider: ProviderDep) -> OutageOut:
    """Schedule an outage ``start_in_s`` from now, lasting ``duration_s``."""
    return await provider.chaos.add_outage(request.start_in_s, request.duration_s, request.mode)


@admin_router.delete("/outages", status_code=204)
async def clear_outages(provider: ProviderDep) -> Response:
    """End every outage now, scheduled or running."""
    await provider.chaos.clear_outages()
    return Response(status_code=204)


@admin_router.get("/stats")
async def stats(provider: ProviderDep) -> dict[str, Any]:
    """Call counts by outcome, plus how many authorizations and keys are held."""
    counts = {outcome: provider.chaos.stats[outcome] for outcome in OUTCOMES}
    return {"outcomes": counts, **provider.store.counts()}


@admin_router.post("/reset", status_code=204)
async def reset(provider: ProviderDep) -> Response:
    """Forget all state and return to the start-up behaviour (for test isolation)."""
    provider.reset()
    return Response(status_code=204)
