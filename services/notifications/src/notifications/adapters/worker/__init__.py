"""Notifications' worker: signs and sends due webhook deliveries."""

from notifications.adapters.worker.dispatcher import DeliveryWorker, WorkerConfig

__all__ = ["DeliveryWorker", "WorkerConfig"]
