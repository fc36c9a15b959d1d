"""Identity's application layer: use cases (one per module), their ports and the policy."""
