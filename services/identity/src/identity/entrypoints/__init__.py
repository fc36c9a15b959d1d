"""Identity's processes: api (HTTP), relay (outbox -> Kafka), cli (keys)."""
