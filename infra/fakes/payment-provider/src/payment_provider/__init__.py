"""A FAKE external payment provider, for local runs (`make up`) and tests. Not production code.

It imitates a third-party card processor over HTTP: authorizations honouring an
``Idempotency-Key``, voids, and injectable trouble (latency, errors before and after the
authorization is recorded, outage windows), set at start by ``PAYMENT_PROVIDER_*`` environment
variables and at runtime through ``/admin``. All state lives in memory for the process lifetime.
It deliberately does not use ``shared``: it stands for someone else's system.
"""

from payment_provider.app import create_app, main
from payment_provider.config import ProviderConfig

__all__ = ["ProviderConfig", "create_app", "main"]
