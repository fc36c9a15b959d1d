"""The saga use cases through bootstrap on fakes: reserve, release, commit, idempotency."""

from __future__ import annotations

import uuid

import pytest

from catalog.application.facade import CatalogUseCases
from catalog.application.use_cases.commit_reservation import CommitReservationInput
from catalog.application.use_cases.create_product import CreateProductInput
from catalog.application.use_cases.release_reservation import ReleaseReservationInput
from catalog.application.use_cases.reserve_for_order import ReserveForOrderInput
from catalog.domain.errors import ReservationNotHeldError
from catalog.domain.events import StockCommitted, StockRejected, StockReleased, StockReserved
from catalog.domain.model import Money, RequestedLine
from catalog.domain.reservation import ReservationStatus

from .conftest import Store, principal_of


async def stocked(catalog: CatalogUseCases, org_id: uuid.UUID, sku: str, on_hand: int) -> uuid.UUID:
    writer = principal_of(org_id)
    product = await catalog.create_product(
        writer, CreateProductInput(org_id, sku, sku, Money(500, "EUR"))
    )
    await catalog.change_stock.set(writer, org_id=org_id, sku=product.sku, on_hand=on_hand)
    return product.id


def placed(org_id: uuid.UUID, order_id: uuid.UUID, **lines: int) -> ReserveForOrderInput:
    return ReserveForOrderInput(
        org_id=org_id,
        order_id=order_id,
        currency="EUR",
        lines=[RequestedLine(sku, qty) for sku, qty in lines.items()],
        causation_id=uuid.uuid4(),
    )


def levels(store: Store) -> dict[str, tuple[int, int]]:
    return {s.sku: (s.on_hand, s.reserved) for s in store.stock.values()}


async def test_reserve_twice_for_one_order_holds_once_and_answers_twice(
    catalog: CatalogUseCases, store: Store, org_id: uuid.UUID
) -> None:
    await stocked(catalog, org_id, "A", 5)
    order = uuid.uuid4()
    first = await catalog.reserve_for_order(placed(org_id, order, A=2))
    again = await catalog.reserve_for_order(placed(org_id, order, A=2))
    assert first is not None
    assert again is not None
    assert first.id == again.id
    assert levels(store) == {"A": (5, 2)}
    answers = [e for e in store.events if isinstance(e, StockReserved)]
    assert len(answers) == 2
    assert answers[0].total == Money(1000, "EUR")


async def test_a_short_line_rejects_the_whole_order(
    catalog: CatalogUseCases, store: Store, org_id: uuid.UUID
) -> None:
    await stocked(catalog, org_id, "A", 5)
    await stocked(catalog, org_id, "B", 1)
    assert await catalog.reserve_for_order(placed(org_id, uuid.uuid4(), A=1, B=2)) is None
    assert levels(store) == {"A": (5, 0), "B": (1, 0)}
    (rejected,) = [e for e in store.events if isinstance(e, StockRejected)]
    assert rejected.reason == "out_of_stock"
    assert [(r.sku, r.requested, r.available) for r in rejected.rejected_lines] == [("B", 2, 1)]


async def test_a_refused_order_is_refused_again_even_after_stock_arrives(
    catalog: CatalogUseCases, store: Store, org_id: uuid.UUID
) -> None:
    product_id = await stocked(catalog, org_id, "A", 1)
    order = uuid.uuid4()
    assert await catalog.reserve_for_order(placed(org_id, order, A=2)) is None
    await catalog.change_stock.set(principal_of(org_id), org_id=org_id, sku="A", on_hand=9)
    assert await catalog.reserve_for_order(placed(org_id, order, A=2)) is None
    assert store.stock[product_id].reserved == 0
    answers = [e for e in store.events if isinstance(e, StockRejected)]
    assert [(a.reason, a.rejected_lines) for a in answers] == [
        ("out_of_stock", answers[0].rejected_lines)
    ] * 2


async def test_another_orgs_skus_are_unknown(
    catalog: CatalogUseCases, store: Store, org_id: uuid.UUID
) -> None:
    await stocked(catalog, org_id, "A", 5)
    assert await catalog.reserve_for_order(placed(uuid.uuid4(), uuid.uuid4(), A=1)) is None
    (rejected,) = [e for e in store.events if isinstance(e, StockRejected)]
    assert rejected.reason == "unknown_sku"
    assert levels(store) == {"A": (5, 0)}


async def test_release_is_idempotent_and_always_answers(
    catalog: CatalogUseCases, store: Store, org_id: uuid.UUID
) -> None:
    await stocked(catalog, org_id, "A", 5)
    order = uuid.uuid4()
    await catalog.reserve_for_order(placed(org_id, order, A=3))
    release = ReleaseReservationInput(org_id, order, uuid.uuid4())
    await catalog.release_reservation(release)
    await catalog.release_reservation(release)
    assert levels(store) == {"A": (5, 0)}
    nothing = await catalog.release_reservation(
        ReleaseReservationInput(org_id, uuid.uuid4(), uuid.uuid4())
    )
    assert nothing is None
    answers = [e for e in store.events if isinstance(e, StockReleased)]
    assert [len(a.lines) for a in answers] == [1, 1, 0]
    assert answers[2].reservation_id is None


async def test_commit_ships_the_held_units_once(
    catalog: CatalogUseCases, store: Store, org_id: uuid.UUID
) -> None:
    await stocked(catalog, org_id, "A", 5)
    order = uuid.uuid4()
    await catalog.reserve_for_order(placed(org_id, order, A=3))
    confirm = CommitReservationInput(org_id, order, uuid.uuid4())
    first = await catalog.commit_reservation(confirm)
    await catalog.commit_reservation(confirm)
    assert first.status is ReservationStatus.COMMITTED
    assert levels(store) == {"A": (2, 0)}
    assert len([e for e in store.events if isinstance(e, StockCommitted)]) == 2


async def test_a_released_or_missing_reservation_cannot_be_committed(
    catalog: CatalogUseCases, org_id: uuid.UUID
) -> None:
    await stocked(catalog, org_id, "A", 5)
    order = uuid.uuid4()
    await catalog.reserve_for_order(placed(org_id, order, A=1))
    await catalog.release_reservation(ReleaseReservationInput(org_id, order, uuid.uuid4()))
    with pytest.raises(ReservationNotHeldError):
        await catalog.commit_reservation(CommitReservationInput(org_id, order, uuid.uuid4()))
    with pytest.raises(ReservationNotHeldError):
        await catalog.commit_reservation(CommitReservationInput(org_id, uuid.uuid4(), uuid.uuid4()))
