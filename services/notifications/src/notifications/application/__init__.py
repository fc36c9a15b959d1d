"""Notifications' use cases and the ports they need (framework-free: import-linter checks it)."""
