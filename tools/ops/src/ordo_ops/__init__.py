"""Ordo's operations CLI (``ordo``): what runs, how far behind it is, and the dead letters."""

__all__: list[str] = []
