"""Orders on Kafka: integration events out (outbox), saga replies in (inbox)."""
