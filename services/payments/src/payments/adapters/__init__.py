"""Payments' adapters: PostgreSQL, Kafka, the provider's HTTP API, the internal HTTP API."""
