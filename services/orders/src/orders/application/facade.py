"""All of orders' use cases in one place, as the entrypoints and adapters receive them."""

from __future__ import annotations

from dataclasses import dataclass

from orders.application.use_cases.cancel_order import CancelOrder
from orders.application.use_cases.get_order import GetOrder
from orders.application.use_cases.list_orders import ListOrders
from orders.application.use_cases.on_payment_authorization_deferred import (
    OnPaymentAuthorizationDeferred,
)
from orders.application.use_cases.on_payment_authorized import OnPaymentAuthorized
from orders.application.use_cases.on_payment_failed import OnPaymentFailed
from orders.application.use_cases.on_stock_rejected import OnStockRejected
from orders.application.use_cases.on_stock_released import OnStockReleased
from orders.application.use_cases.on_stock_reserved import OnStockReserved
from orders.application.use_cases.place_order import PlaceOrder
from orders.application.use_cases.sweep_deadlines import SweepDeadlines

__all__ = ["OrdersUseCases"]


@dataclass(frozen=True, slots=True)
class OrdersUseCases:
    """Orders' use cases, wired by ``orders.bootstrap``."""

    place_order: PlaceOrder
    get_order: GetOrder
    list_orders: ListOrders
    cancel_order: CancelOrder
    on_stock_reserved: OnStockReserved
    on_stock_rejected: OnStockRejected
    on_stock_released: OnStockReleased
    on_payment_authorized: OnPaymentAuthorized
    on_payment_failed: OnPaymentFailed
    on_payment_authorization_deferred: OnPaymentAuthorizationDeferred
    sweep_deadlines: SweepDeadlines
