"""The request fingerprint, the idempotency errors and the purge use case (no IO)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from shared.clock import FrozenClock
from shared.errors import ConflictError, ValidationError
from shared.idempotency import (
    IdempotencyInProgressError,
    IdempotencyKeyReusedError,
    PurgeExpiredIdempotencyKeys,
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


class _ExpiringRecords:
    def __init__(self, expiries: list[datetime]) -> None:
        self.expiries = expiries
        self.asked_at: list[datetime] = []

    async def purge_expired(self, *, now: datetime) -> int:
        self.asked_at.append(now)
        gone = [e for e in self.expiries if e <= now]
        self.expiries = [e for e in self.expiries if e > now]
        return len(gone)


class _UnitOfWork:
    def __init__(self, records: _ExpiringRecords) -> None:
        self.idempotency = records
        self.commits = 0

    async def __aenter__(self) -> _UnitOfWork:
        return self

    async def __aexit__(self, *_: object) -> None:
        return None

    async def commit(self) -> None:
        self.commits += 1


async def test_the_purge_use_case_deletes_what_expired_by_the_clock_and_commits() -> None:
    now = datetime(2026, 11, 26, 12, tzinfo=UTC)
    records = _ExpiringRecords([now - timedelta(hours=1), now, now + timedelta(hours=1)])
    uow = _UnitOfWork(records)
    purge = PurgeExpiredIdempotencyKeys(lambda: uow, FrozenClock(now))
    assert await purge() == 2
    assert await purge() == 0  # nothing left that expired
    assert (records.asked_at, uow.commits, len(records.expiries)) == ([now, now], 2, 1)
