"""The HTTP side of Idempotency-Keys (guideline 7, contracts/README.md): the request header, and
the stored response answered again, byte for byte, marked ``Idempotent-Replayed: true``.

::

    async def place_order(body: PlaceOrderRequest, caller: Caller, key: IdempotencyKey) -> ...:
        result = await use_cases.place_order(caller, PlaceOrderInput(..., idempotency_key=key))
        return idempotent_response(result.response, replayed=result.replayed,
                                   headers={"Location": f"/orders/{result.response.body['id']}"})

Claiming and storing the key is the use case's (``shared.idempotency``, in its transaction).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated

from fastapi import Header
from starlette.responses import JSONResponse

from shared.idempotency import IdempotentResponse

__all__ = ["IDEMPOTENCY_KEY_HEADER", "REPLAYED_HEADER", "IdempotencyKey", "idempotent_response"]

IDEMPOTENCY_KEY_HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"

IdempotencyKey = Annotated[
    str,
    Header(alias=IDEMPOTENCY_KEY_HEADER, min_length=1, max_length=255, pattern=r"^[\x21-\x7E]+$"),
]
"""A required ``Idempotency-Key`` header: 1-255 visible ASCII characters (else 422)."""


def idempotent_response(
    response: IdempotentResponse, *, replayed: bool, headers: Mapping[str, str] | None = None
) -> JSONResponse:
    """The stored (or just stored) ``response`` with ``headers``, marked when it is a replay."""
    sent = dict(headers or {})
    if replayed:
        sent[REPLAYED_HEADER] = "true"
    return JSONResponse(response.body, status_code=response.status_code, headers=sent)
