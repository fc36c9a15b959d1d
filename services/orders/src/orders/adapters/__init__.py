"""Orders' adapters: PostgreSQL persistence, the HTTP API, Kafka messaging, background jobs."""
