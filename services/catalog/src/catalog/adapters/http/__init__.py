"""Catalog's internal HTTP API (contracts/openapi/catalog.yaml)."""
