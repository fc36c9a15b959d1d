"""Orders' internal HTTP API (contracts/openapi/orders.yaml)."""
