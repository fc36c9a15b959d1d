"""The domain alone: money, stock invariants, all-or-nothing reservations."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest

from catalog.domain.errors import InsufficientStockError, InvalidQuantityError
from catalog.domain.events import StockRejected, StockReserved
from catalog.domain.model import Money, Product, RequestedLine, StockItem
from catalog.domain.reservation import Reservation, ReservationStatus, reserve

NOW = datetime(2026, 11, 26, 12, tzinfo=UTC)
ORG = uuid.uuid4()


def item(
    sku: str, on_hand: int, price: int = 100, currency: str = "EUR"
) -> tuple[Product, StockItem]:
    product = Product.create(
        id=uuid.uuid4(), org_id=ORG, sku=sku, name=sku, price=Money(price, currency), now=NOW
    )
    product.pull_events()
    return product, StockItem(product.id, ORG, sku, on_hand=on_hand)


def run(lines: list[RequestedLine], catalog: dict[str, tuple[Product, StockItem]]) -> object:
    return reserve(
        org_id=ORG,
        order_id=uuid.uuid4(),
        currency="EUR",
        lines=lines,
        catalog=catalog,
        causation_id=uuid.uuid4(),
        now=NOW,
        new_id=uuid.uuid4,
    )


@pytest.mark.parametrize(("amount", "currency"), [(-1, "EUR"), (1, "eur"), (1, "EURO")])
def test_money_rejects_bad_amounts_and_currencies(amount: int, currency: str) -> None:
    with pytest.raises(InvalidQuantityError):
        Money(amount, currency)


def test_stock_never_goes_below_reserved_or_zero() -> None:
    product, stock = item("A", 5)
    stock.hold(3)
    assert (stock.on_hand, stock.reserved, stock.available) == (5, 3, 2)
    with pytest.raises(InsufficientStockError):
        stock.change_on_hand(product, on_hand=2, reason="count", set_=False, by=ORG, now=NOW)
    assert (stock.on_hand, stock.reserved) == (5, 3)
    with pytest.raises(InvalidQuantityError):
        stock.change_on_hand(product, on_hand=-1, reason=None, set_=True, by=ORG, now=NOW)
    with pytest.raises(InsufficientStockError):
        stock.hold(3)


def test_reserve_holds_every_line_and_prices_it() -> None:
    catalog = {"A": item("A", 5, 250), "B": item("B", 1, 1000)}
    outcome = run([RequestedLine("A", 2), RequestedLine("B", 1)], catalog)
    assert isinstance(outcome, Reservation)
    assert outcome.status is ReservationStatus.HELD
    assert outcome.total == Money(1500, "EUR")
    assert catalog["A"][1].reserved == 2
    assert catalog["B"][1].available == 0
    (event,) = outcome.pull_events()
    assert isinstance(event, StockReserved)
    assert event.total == Money(1500, "EUR")


@pytest.mark.parametrize(
    ("lines", "reason"),
    [
        ([RequestedLine("A", 1), RequestedLine("NOPE", 1)], "unknown_sku"),
        ([RequestedLine("A", 1), RequestedLine("USD", 1)], "currency_mismatch"),
        ([RequestedLine("A", 1), RequestedLine("B", 2)], "out_of_stock"),
    ],
)
def test_reserve_is_all_or_nothing_with_a_reason(lines: list[RequestedLine], reason: str) -> None:
    catalog = {"A": item("A", 5), "B": item("B", 1), "USD": item("USD", 9, currency="USD")}
    outcome = run(lines, catalog)
    assert isinstance(outcome, StockRejected)
    assert outcome.reason == reason
    assert all(stock.reserved == 0 for _p, stock in catalog.values())


def test_release_and_commit_are_idempotent() -> None:
    catalog = {"A": item("A", 5)}
    reservation = run([RequestedLine("A", 2)], catalog)
    assert isinstance(reservation, Reservation)
    stock = {"A": catalog["A"][1]}
    reservation.commit(stock, uuid.uuid4(), NOW)
    reservation.commit(stock, uuid.uuid4(), NOW)
    assert (stock["A"].on_hand, stock["A"].reserved) == (3, 0)
    assert reservation.status is ReservationStatus.COMMITTED
    reservation.release(stock, uuid.uuid4(), NOW)  # too late: nothing changes, still answers
    assert (stock["A"].on_hand, stock["A"].reserved) == (3, 0)
    assert len(reservation.pull_events()) == 4
