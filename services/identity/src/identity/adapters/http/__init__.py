"""Identity's internal HTTP API (contracts/openapi/identity.yaml)."""
