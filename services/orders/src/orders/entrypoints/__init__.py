"""Orders' processes: api, consumer, relay, worker (one console script each)."""
