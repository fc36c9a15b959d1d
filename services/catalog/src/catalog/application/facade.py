"""All of catalog's use cases in one place, as the entrypoints and adapters receive them."""

from __future__ import annotations

from dataclasses import dataclass

from catalog.application.use_cases.change_stock import ChangeStock
from catalog.application.use_cases.commit_reservation import CommitReservation
from catalog.application.use_cases.create_product import CreateProduct
from catalog.application.use_cases.get_product import GetProduct
from catalog.application.use_cases.get_stock_level import GetStockLevel
from catalog.application.use_cases.list_products import ListProducts
from catalog.application.use_cases.list_stock_levels import ListStockLevels
from catalog.application.use_cases.release_reservation import ReleaseReservation
from catalog.application.use_cases.reserve_for_order import ReserveForOrder
from catalog.application.use_cases.update_price import UpdatePrice

__all__ = ["CatalogUseCases"]


@dataclass(frozen=True, slots=True)
class CatalogUseCases:
    """Catalog's use cases, wired by ``catalog.bootstrap``."""

    create_product: CreateProduct
    update_price: UpdatePrice
    change_stock: ChangeStock
    get_product: GetProduct
    get_stock_level: GetStockLevel
    list_products: ListProducts
    list_stock_levels: ListStockLevels
    reserve_for_order: ReserveForOrder
    release_reservation: ReleaseReservation
    commit_reservation: CommitReservation
