"""Identity's integration events: domain events mapped to outbox messages (identity.events)."""
