"""Catalog's domain: products, stock levels and reservations (standard library only)."""
