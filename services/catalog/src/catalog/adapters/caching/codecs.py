"""JSON shapes of cached products and stock levels (bump a codec's version when one changes)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from catalog.application.ports import StockLevel
from catalog.domain.model import Money, Product, StockItem
from shared.caching import JsonCodec

__all__ = ["PRODUCT_CODEC", "STOCK_LEVEL_CODEC"]


def _dump_product(product: Product) -> dict[str, Any]:
    return {
        "id": str(product.id),
        "org_id": str(product.org_id),
        "sku": product.sku,
        "name": product.name,
        "description": product.description,
        "amount_minor": product.price.amount_minor,
        "currency": product.price.currency,
        "version": product.version,
        "created_at": product.created_at.isoformat(),
        "updated_at": product.updated_at.isoformat(),
    }


def _load_product(raw: dict[str, Any]) -> Product:
    return Product(
        id=uuid.UUID(raw["id"]),
        org_id=uuid.UUID(raw["org_id"]),
        sku=str(raw["sku"]),
        name=str(raw["name"]),
        description=raw["description"],
        price=Money(int(raw["amount_minor"]), str(raw["currency"])),
        version=int(raw["version"]),
        created_at=datetime.fromisoformat(raw["created_at"]),
        updated_at=datetime.fromisoformat(raw["updated_at"]),
    )


def _dump_level(level: StockLevel) -> dict[str, Any]:
    product, stock = level
    return {"product": _dump_product(product), "on_hand": stock.on_hand, "reserved": stock.reserved}


def _load_level(raw: dict[str, Any]) -> StockLevel:
    product = _load_product(raw["product"])
    stock = StockItem(
        product.id, product.org_id, product.sku, int(raw["on_hand"]), int(raw["reserved"])
    )
    return product, stock


PRODUCT_CODEC = JsonCodec[Product](dump=_dump_product, load=_load_product, version=1)
STOCK_LEVEL_CODEC = JsonCodec[StockLevel](dump=_dump_level, load=_load_level, version=1)
