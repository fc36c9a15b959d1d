"""Ordo orders service: orders, order lines and the order saga."""
