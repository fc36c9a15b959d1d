"""Ordo payments service: payment intents and attempts against the external provider."""
