"""Ordo catalog service: products, prices, stock levels and reservations."""
