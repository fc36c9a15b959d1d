"""Payments' domain: the payment of an order, its attempts with the provider, its events.

Standard library only: the provider, the database and Kafka are the adapters' business.
"""
