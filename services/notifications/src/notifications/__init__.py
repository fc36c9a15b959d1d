"""Ordo notifications service: webhook endpoints per org and signed deliveries."""
