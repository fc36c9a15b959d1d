"""Notifications' domain: webhook endpoints, deliveries, their retry schedule and signatures.

Standard library only (import-linter checks it).
"""
