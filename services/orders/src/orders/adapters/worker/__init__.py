"""Orders' worker: the saga's deadline sweeper."""

from orders.adapters.worker.saga import SWEEP_JOB, SagaWorker

__all__ = ["SWEEP_JOB", "SagaWorker"]
