"""Payments' use cases and the ports they need (no framework imports)."""
