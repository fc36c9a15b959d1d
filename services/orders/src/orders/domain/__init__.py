"""Orders' domain: the order aggregate and its saga state machine (standard library only)."""
