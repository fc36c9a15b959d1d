"""Ordo service chassis."""
