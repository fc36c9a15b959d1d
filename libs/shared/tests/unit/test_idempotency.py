"""The request fingerprint and the idempotency errors (no IO)."""

from __future__ import annotations

from shared.errors import ConflictError, ValidationError
from shared.idempotency import (
    IdempotencyInProgressError,
    IdempotencyKeyReusedError,
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
