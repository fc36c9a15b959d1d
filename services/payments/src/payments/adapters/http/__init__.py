"""Payments' internal HTTP API (contracts/openapi/payments.yaml)."""
