"""Endpoint use cases through ``bootstrap`` on fakes: RBAC, tenancy, idempotency, limits,
pagination, deletion."""

from __future__ import annotations

import uuid

import pytest

from notifications.application.facade import NotificationsUseCases
from notifications.application.ports import EndpointFilter
from notifications.application.use_cases.create_webhook_endpoint import (
    CreateWebhookEndpointInput,
)
from notifications.domain.delivery import Delivery
from notifications.domain.errors import (
    EndpointLimitReachedError,
    EndpointNotFoundError,
    InvalidEndpointError,
)
from notifications.domain.values import DeliveryStatus, WebhookEventType
from shared.auth.principal import Role
from shared.clock import FrozenClock
from shared.errors import PermissionDeniedError, ValidationError
from shared.idempotency import IdempotencyKeyReusedError

from .conftest import Store, principal_of

URL = "https://hooks.example.com/ordo"


def command(org_id: uuid.UUID, **overrides: object) -> CreateWebhookEndpointInput:
    fields: dict[str, object] = {
        "org_id": org_id,
        "url": URL,
        "event_types": ["order.placed", "order.confirmed"],
    }
    fields.update(overrides)
    return CreateWebhookEndpointInput(**fields)  # type: ignore[arg-type]


async def create(
    uc: NotificationsUseCases,
    org_id: uuid.UUID,
    *,
    role: Role = Role.ADMIN,
    key: str | None = None,
    fingerprint: str = "fp",
    **overrides: object,
) -> dict[str, object]:
    created = await uc.create_webhook_endpoint(
        principal_of(org_id, role),
        command(org_id, **overrides),
        idempotency_key=key or uuid.uuid4().hex,
        fingerprint=fingerprint,
    )
    return created.response.body


async def test_owners_and_admins_register_and_see_the_secret_once(
    use_cases: NotificationsUseCases, store: Store, org_id: uuid.UUID
) -> None:
    for role in (Role.OWNER, Role.ADMIN):
        body = await create(use_cases, org_id, role=role, description="ERP")
        assert str(body["secret"]).startswith("whsec_")
        assert body["enabled"] is True
        assert body["event_types"] == ["order.placed", "order.confirmed"]
        stored = store.endpoints[uuid.UUID(str(body["id"]))]
        assert stored.secret is not None
        assert stored.secret.reveal() == body["secret"]
    bodies = list(store.endpoints.values())
    assert len({e.secret.reveal() for e in bodies if e.secret}) == 2  # one secret each
    endpoint = await use_cases.get_webhook_endpoint(
        principal_of(org_id, Role.VIEWER), org_id=org_id, endpoint_id=bodies[0].id
    )
    assert endpoint.url == URL


async def test_a_callers_secret_is_kept(
    use_cases: NotificationsUseCases, org_id: uuid.UUID
) -> None:
    mine = "whsec_" + "QUJD" * 8
    body = await create(use_cases, org_id, secret=mine)
    assert body["secret"] == mine


@pytest.mark.parametrize("role", [Role.MEMBER, Role.VIEWER])
async def test_members_and_viewers_may_not_register_or_delete(
    use_cases: NotificationsUseCases, store: Store, org_id: uuid.UUID, role: Role
) -> None:
    with pytest.raises(PermissionDeniedError):
        await create(use_cases, org_id, role=role)
    body = await create(use_cases, org_id)
    with pytest.raises(PermissionDeniedError):
        await use_cases.delete_webhook_endpoint(
            principal_of(org_id, role), org_id=org_id, endpoint_id=uuid.UUID(str(body["id"]))
        )
    assert len(store.endpoints) == 1


async def test_another_orgs_endpoint_is_not_found_whatever_the_role(
    use_cases: NotificationsUseCases, org_id: uuid.UUID
) -> None:
    body = await create(use_cases, org_id)
    endpoint_id = uuid.UUID(str(body["id"]))
    stranger = uuid.uuid4()
    owner = principal_of(stranger, Role.OWNER)
    with pytest.raises(EndpointNotFoundError):
        await use_cases.get_webhook_endpoint(owner, org_id=stranger, endpoint_id=endpoint_id)
    with pytest.raises(EndpointNotFoundError):
        await use_cases.delete_webhook_endpoint(owner, org_id=stranger, endpoint_id=endpoint_id)
    with pytest.raises(EndpointNotFoundError):  # naming the other org in the request
        await use_cases.get_webhook_endpoint(owner, org_id=org_id, endpoint_id=endpoint_id)


async def test_the_same_key_replays_and_another_body_is_refused(
    use_cases: NotificationsUseCases, store: Store, org_id: uuid.UUID
) -> None:
    first = await use_cases.create_webhook_endpoint(
        principal_of(org_id), command(org_id), idempotency_key="k-1", fingerprint="a"
    )
    again = await use_cases.create_webhook_endpoint(
        principal_of(org_id), command(org_id), idempotency_key="k-1", fingerprint="a"
    )
    assert (first.replayed, again.replayed) == (False, True)
    assert again.response == first.response
    assert len(store.endpoints) == 1
    with pytest.raises(IdempotencyKeyReusedError):
        await use_cases.create_webhook_endpoint(
            principal_of(org_id), command(org_id), idempotency_key="k-1", fingerprint="b"
        )
    other_org = uuid.uuid4()  # keys are scoped per org
    fresh = await use_cases.create_webhook_endpoint(
        principal_of(other_org), command(other_org), idempotency_key="k-1", fingerprint="a"
    )
    assert fresh.replayed is False


async def test_invalid_input_changes_nothing(
    use_cases: NotificationsUseCases, store: Store, org_id: uuid.UUID
) -> None:
    for overrides in (
        {"url": "http://hooks.example.com/"},
        {"url": "https://10.0.0.1/"},
        {"event_types": []},
        {"secret": "whsec_short"},
    ):
        with pytest.raises(InvalidEndpointError):
            await create(use_cases, org_id, **overrides)
    assert store.endpoints == {}
    assert store.keys == {}


async def test_an_org_has_a_limit_of_endpoints(
    use_cases: NotificationsUseCases, store: Store, org_id: uuid.UUID
) -> None:
    for _ in range(3):
        await create(use_cases, org_id)
    with pytest.raises(EndpointLimitReachedError) as caught:
        await create(use_cases, org_id)
    assert caught.value.code == "webhook_endpoint.limit_reached"
    assert len(store.endpoints) == 3
    assert len(store.keys) == 3
    first = next(iter(store.endpoints))
    await use_cases.delete_webhook_endpoint(principal_of(org_id), org_id=org_id, endpoint_id=first)
    await create(use_cases, org_id)  # deleted ones do not count


async def test_listing_pages_newest_first_with_filters_bound_to_the_cursor(
    use_cases: NotificationsUseCases, org_id: uuid.UUID
) -> None:
    a = await create(use_cases, org_id, event_types=["payment.failed"])
    b = await create(use_cases, org_id)
    c = await create(use_cases, org_id)
    viewer = principal_of(org_id, Role.VIEWER)
    first = await use_cases.list_webhook_endpoints(viewer, org_id=org_id, limit=2)
    assert [str(e.id) for e in first.items] == [c["id"], b["id"]]
    rest = await use_cases.list_webhook_endpoints(
        viewer, org_id=org_id, limit=2, cursor=first.next_cursor
    )
    assert ([str(e.id) for e in rest.items], rest.next_cursor) == ([a["id"]], None)
    only = await use_cases.list_webhook_endpoints(
        viewer, org_id=org_id, filters=EndpointFilter(event_type=WebhookEventType.PAYMENT_FAILED)
    )
    assert [str(e.id) for e in only.items] == [a["id"]]
    with pytest.raises(ValidationError):  # a cursor issued for other filters
        await use_cases.list_webhook_endpoints(
            viewer,
            org_id=org_id,
            cursor=first.next_cursor,
            filters=EndpointFilter(enabled=True),
        )
    for bad in ("%%%", "bm90IGpzb24", "e30"):
        with pytest.raises(ValidationError):
            await use_cases.list_webhook_endpoints(viewer, org_id=org_id, cursor=bad)
    with pytest.raises(ValidationError):
        await use_cases.list_webhook_endpoints(viewer, org_id=org_id, limit=101)


async def test_deleting_abandons_open_deliveries_erases_the_secret_and_keeps_the_log(
    use_cases: NotificationsUseCases, store: Store, clock: FrozenClock, org_id: uuid.UUID
) -> None:
    body = await create(use_cases, org_id)
    endpoint_id = uuid.UUID(str(body["id"]))
    delivery = Delivery.schedule(
        id=uuid.uuid4(),
        org_id=org_id,
        endpoint_id=endpoint_id,
        event_id=uuid.uuid4(),
        event_type=WebhookEventType.ORDER_PLACED,
        body="{}",
        now=clock.now(),
    )
    store.deliveries[delivery.id] = delivery
    admin = principal_of(org_id)
    await use_cases.delete_webhook_endpoint(admin, org_id=org_id, endpoint_id=endpoint_id)
    assert store.endpoints[endpoint_id].secret is None
    assert store.deliveries[delivery.id].status is DeliveryStatus.FAILED
    with pytest.raises(EndpointNotFoundError):
        await use_cases.get_webhook_endpoint(admin, org_id=org_id, endpoint_id=endpoint_id)
    with pytest.raises(EndpointNotFoundError):  # deleting twice is 404
        await use_cases.delete_webhook_endpoint(admin, org_id=org_id, endpoint_id=endpoint_id)
    log = await use_cases.list_webhook_deliveries(admin, org_id=org_id, endpoint_id=endpoint_id)
    assert [d.id for d in log.items] == [delivery.id]
    listed = await use_cases.list_webhook_endpoints(admin, org_id=org_id)
    assert listed.items == ()
