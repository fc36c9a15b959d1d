"""Identity's adapters: persistence (PostgreSQL), messaging (outbox), crypto, HTTP."""
