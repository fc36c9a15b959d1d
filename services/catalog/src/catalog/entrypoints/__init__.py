"""Catalog's processes: api, consumer, relay (one console script each)."""
