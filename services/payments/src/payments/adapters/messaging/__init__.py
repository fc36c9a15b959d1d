"""Payments on Kafka: integration events out (outbox), saga handlers in (inbox)."""
