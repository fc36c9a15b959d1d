"""Orders' background jobs: the saga's deadline sweeper and the idempotency-key purge."""
