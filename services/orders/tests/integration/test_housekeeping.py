"""The housekeeping orders' spec declares, run on its migrated database
(shared.testing.housekeeping; what each common chore deletes: the chassis' tests)."""

import pytest

from orders.adapters.persistence.tables import idempotency_keys
from orders.bootstrap import OrdersSettings
from orders.entrypoints.service import SPEC
from shared.settings import DatabaseSettings
from shared.testing.housekeeping import check_housekeeping

pytestmark = pytest.mark.integration

CHORES = ("purge_idempotency_keys", "purge_inbox", "purge_outbox")


async def test_the_declared_chores_run_and_delete_what_is_due(migrated: DatabaseSettings) -> None:
    await check_housekeeping(
        SPEC, OrdersSettings(database=migrated), expected=CHORES, idempotency_keys=idempotency_keys
    )
