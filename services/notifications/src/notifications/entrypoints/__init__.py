"""Notifications' processes: api, consumer, worker, relay (one console script each)."""
