"""The public /v1 HTTP edge of the gateway (contracts/openapi/gateway.v1.yaml)."""
