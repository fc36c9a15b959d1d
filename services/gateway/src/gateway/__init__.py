"""Ordo gateway service."""
