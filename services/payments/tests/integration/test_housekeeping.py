"""The housekeeping payments' spec declares, run on its migrated database
(shared.testing.housekeeping; what each common chore deletes: the chassis' tests)."""

import pytest

from payments.entrypoints.service import SPEC
from payments.settings import PaymentsSettings
from shared.settings import DatabaseSettings
from shared.testing.housekeeping import check_housekeeping

pytestmark = pytest.mark.integration

CHORES = ("purge_inbox", "purge_outbox")


async def test_the_declared_chores_run_and_delete_what_is_due(migrated: DatabaseSettings) -> None:
    await check_housekeeping(SPEC, PaymentsSettings(database=migrated), expected=CHORES)
