"""All of notifications' use cases in one place, as the entrypoints and adapters receive them."""

from __future__ import annotations

from dataclasses import dataclass

from notifications.application.use_cases.attempt_delivery import AttemptDelivery
from notifications.application.use_cases.claim_due_deliveries import ClaimDueDeliveries
from notifications.application.use_cases.create_webhook_endpoint import CreateWebhookEndpoint
from notifications.application.use_cases.delete_webhook_endpoint import DeleteWebhookEndpoint
from notifications.application.use_cases.get_webhook_delivery import GetWebhookDelivery
from notifications.application.use_cases.get_webhook_endpoint import GetWebhookEndpoint
from notifications.application.use_cases.list_webhook_deliveries import ListWebhookDeliveries
from notifications.application.use_cases.list_webhook_endpoints import ListWebhookEndpoints
from notifications.application.use_cases.purge_expired_records import PurgeExpiredRecords
from notifications.application.use_cases.schedule_deliveries import ScheduleDeliveries

__all__ = ["NotificationsUseCases"]


@dataclass(frozen=True, slots=True)
class NotificationsUseCases:
    """Notifications' use cases, wired by ``notifications.bootstrap``."""

    create_webhook_endpoint: CreateWebhookEndpoint
    list_webhook_endpoints: ListWebhookEndpoints
    get_webhook_endpoint: GetWebhookEndpoint
    delete_webhook_endpoint: DeleteWebhookEndpoint
    list_webhook_deliveries: ListWebhookDeliveries
    get_webhook_delivery: GetWebhookDelivery
    schedule_deliveries: ScheduleDeliveries
    claim_due_deliveries: ClaimDueDeliveries
    attempt_delivery: AttemptDelivery
    purge_expired_records: PurgeExpiredRecords
