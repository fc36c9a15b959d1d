"""The request fingerprint, the idempotency errors and the claim/complete helpers (no IO)."""

from __future__ import annotations

import pytest

from shared.errors import ConflictError, ValidationError
from shared.idempotency import (
    IdempotencyInProgressError,
    IdempotencyKeyReusedError,
    IdempotentAnswer,
    IdempotentRequest,
    IdempotentResponse,
    claim,
    complete,
    request_fingerprint,
)


def test_fingerprint_ignores_key_order_and_whitespace() -> None:
    a = request_fingerprint("POST", "/orders", {"lines": [{"sku": "A", "quantity": 1}], "x": 1})
    b = request_fingerprint("post", "/orders", {"x": 1, "lines": [{"quantity": 1, "sku": "A"}]})
    assert a == b
    assert len(a) == 64


def test_fingerprint_changes_with_values_path_and_method() -> None:
    base = request_fingerprint("POST", "/orders", {"q": 1})
    assert request_fingerprint("POST", "/orders", {"q": 2}) != base
    assert request_fingerprint("POST", "/other", {"q": 1}) != base
    assert request_fingerprint("PUT", "/orders", {"q": 1}) != base
    assert request_fingerprint("POST", "/orders", [{"q": 1}]) != base


def test_errors_sit_in_the_tree_with_stable_codes() -> None:
    assert issubclass(IdempotencyKeyReusedError, ValidationError)
    assert issubclass(IdempotencyInProgressError, ConflictError)
    assert IdempotencyKeyReusedError().code == "idempotency.key_reused"
    assert IdempotencyInProgressError().code == "idempotency.in_progress"


class _Records:
    def __init__(self) -> None:
        self.stored: dict[tuple[str, str], tuple[str, IdempotentResponse | None]] = {}

    async def claim(self, *, scope: str, key: str, fingerprint: str) -> IdempotentResponse | None:
        found = self.stored.get((scope, key))
        if found is None:
            self.stored[(scope, key)] = (fingerprint, None)
            return None
        if found[0] != fingerprint:
            raise IdempotencyKeyReusedError()
        return found[1]

    async def complete(self, *, scope: str, key: str, response: IdempotentResponse) -> None:
        self.stored[(scope, key)] = (self.stored[(scope, key)][0], response)


class _UnitOfWork:
    def __init__(self) -> None:
        self.idempotency = _Records()


async def test_claim_then_complete_stores_the_rendered_response_and_replays_it() -> None:
    uow = _UnitOfWork()
    request: IdempotentRequest[int] = IdempotentRequest(
        "k-1", "fp", lambda n: IdempotentResponse(201, {"n": n})
    )
    assert await claim(uow, "org:op", request) is None
    first = await complete(uow, "org:op", request, 7)
    assert first == IdempotentAnswer(IdempotentResponse(201, {"n": 7}), replayed=False)
    again = await claim(uow, "org:op", request)
    assert again == IdempotentAnswer(IdempotentResponse(201, {"n": 7}), replayed=True)
    other: IdempotentRequest[int] = IdempotentRequest("k-1", "another body", request.render)
    with pytest.raises(IdempotencyKeyReusedError):
        await claim(uow, "org:op", other)
    assert await claim(uow, "org:other-op", other) is None  # scopes never meet
