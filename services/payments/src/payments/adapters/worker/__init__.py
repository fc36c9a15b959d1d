"""Payments' worker: the only role that calls the provider."""

from payments.adapters.worker.payments import HELD_JOB, PaymentWorker

__all__ = ["HELD_JOB", "PaymentWorker"]
