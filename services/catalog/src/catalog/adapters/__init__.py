"""Catalog's adapters: PostgreSQL persistence, Kafka messaging."""
