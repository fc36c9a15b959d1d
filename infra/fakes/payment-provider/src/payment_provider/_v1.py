"""The merchant-facing API: ``/v1/authorizations``. Every call first passes the chaos gate."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Query
from fastapi.responses import JSONResponse

from payment_provider._models import AuthorizationList, AuthorizationOut, AuthorizationRequest
from payment_provider._problems import PROBLEM_MEDIA_TYPE
from payment_provider._provider import ProviderDep, chaos_gate
from payment_provider._store import IdempotencyKeyReusedError

REPLAYED_HEADER = "Idempotent-Replayed"

_PROBLEM: dict[str, Any] = {"content": {PROBLEM_MEDIA_TYPE: {}}}

router = APIRouter(
    prefix="/v1",
    tags=["authorizations"],
    dependencies=[Depends(chaos_gate)],
    responses={
        422: {**_PROBLEM, "description": "Invalid request, or a key reused with another body"},
        500: {**_PROBLEM, "description": "Failed after recording: retry with the same key"},
        503: {**_PROBLEM, "description": "Unavailable or outage: nothing was done"},
    },
)

IdempotencyKey = Annotated[
    str, Header(alias="Idempotency-Key", min_length=1, max_length=255, pattern=r"^[\x21-\x7e]+$")
]


@router.post(
    "/authorizations",
    status_code=201,
    response_model=AuthorizationOut,
    responses={200: {"description": "Replay of the original response for this key"}},
)
async def create_authorization(
    body: AuthorizationRequest, idempotency_key: IdempotencyKey, provider: ProviderDep
) -> JSONResponse:
    """Authorize an amount; declined only for the magic decline tokens, never at random."""
    try:
        outcome = await provider.store.authorize(idempotency_key, body)
    except IdempotencyKeyReusedError:
        provider.chaos.stats["key_reused"] += 1
        raise
    if outcome.replayed:
        provider.chaos.stats["replayed"] += 1
    else:
        provider.chaos.stats[outcome.status] += 1
    provider.chaos.after_commit()
    if outcome.replayed:
        return JSONResponse(outcome.body, status_code=200, headers={REPLAYED_HEADER: "true"})
    return JSONResponse(outcome.body, status_code=201)


@router.get("/authorizations", response_model=AuthorizationList)
async def list_authorizations(
    provider: ProviderDep,
    reference: Annotated[str | None, Query(min_length=1, max_length=200)] = None,
) -> AuthorizationList:
    """Authorizations, oldest first; ``reference`` filters by the merchant's payment id."""
    items = [AuthorizationOut.model_validate(a) for a in provider.store.find(reference)]
    return AuthorizationList(items=items, count=len(items))


@router.get("/authorizations/{authorization_id}", response_model=AuthorizationOut)
async def get_authorization(authorization_id: str, provider: ProviderDep) -> AuthorizationOut:
    """One authorization, as it is now (voided ones show ``voided``)."""
    return AuthorizationOut.model_validate(provider.store.get(authorization_id))


@router.post(
    "/authorizations/{authorization_id}/void",
    response_model=AuthorizationOut,
    responses={404: _PROBLEM, 409: {**_PROBLEM, "description": "Declined: nothing to void"}},
)
async def void_authorization(authorization_id: str, provider: ProviderDep) -> AuthorizationOut:
    """Release an authorization; voiding it again answers the same 200."""
    authorization, changed = await provider.store.void(authorization_id)
    if changed:
        provider.chaos.stats["voided"] += 1
    provider.chaos.after_commit()
    return AuthorizationOut.model_validate(authorization)
