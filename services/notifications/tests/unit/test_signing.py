"""Signatures, checked by a Standard Webhooks verifier written here from the specification
(not with the code under test): the published test vector, a round trip, and tampering."""

from __future__ import annotations

import base64
import json
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest

from notifications.domain.errors import InvalidEndpointError
from notifications.domain.signing import message_body, sign, signature_headers
from notifications.domain.values import SigningSecret, WebhookEventType

VECTOR_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


def test_the_published_standard_webhooks_vector() -> None:
    # The test vector of the Standard Webhooks reference libraries.
    signature = sign(
        SigningSecret.parse(VECTOR_SECRET),
        "msg_p5jXN8AQM9LWM0D4loKWxJek",
        1614265330,
        '{"test": 2432232314}',
    )
    assert signature == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


@pytest.fixture
def signed() -> tuple[str, dict[str, str], str, int]:
    secret = SigningSecret.generate(lambda n: bytes(range(n)))
    at = datetime(2026, 11, 26, 12, 0, 1, tzinfo=UTC)
    body = message_body(
        WebhookEventType.ORDER_CONFIRMED,
        datetime(2026, 11, 26, 12, 0, tzinfo=UTC),
        {"order_id": "o-1", "org_id": "org-1", "note": "café"},
    )
    headers = signature_headers(secret, uuid.UUID(int=7), at, body)
    return secret.reveal(), headers, body, int(at.timestamp())


def test_a_signed_attempt_verifies(
    signed: tuple[str, dict[str, str], str, int], standard_webhooks: Any
) -> None:
    secret, headers, body, now = signed
    standard_webhooks.verify(secret, headers, body, now=now + 10)
    assert headers["webhook-id"] == str(uuid.UUID(int=7))
    assert headers["webhook-timestamp"] == str(now)
    assert json.loads(body) == {
        "type": "order.confirmed",
        "timestamp": "2026-11-26T12:00:00Z",
        "data": {"order_id": "o-1", "org_id": "org-1", "note": "café"},
    }


def test_a_tampered_body_fails(
    signed: tuple[str, dict[str, str], str, int], standard_webhooks: Any
) -> None:
    secret, headers, body, now = signed
    with pytest.raises(standard_webhooks.Invalid):
        standard_webhooks.verify(secret, headers, body.replace("o-1", "o-2"), now=now)


def test_a_tampered_timestamp_fails(
    signed: tuple[str, dict[str, str], str, int], standard_webhooks: Any
) -> None:
    secret, headers, body, now = signed
    later = headers | {"webhook-timestamp": str(now + 60)}
    with pytest.raises(standard_webhooks.Invalid):
        standard_webhooks.verify(secret, later, body, now=now + 60)


def test_a_replayed_id_under_another_delivery_fails(
    signed: tuple[str, dict[str, str], str, int], standard_webhooks: Any
) -> None:
    secret, headers, body, now = signed
    with pytest.raises(standard_webhooks.Invalid):
        standard_webhooks.verify(
            secret, headers | {"webhook-id": str(uuid.UUID(int=8))}, body, now=now
        )


def test_an_old_signature_is_refused(
    signed: tuple[str, dict[str, str], str, int], standard_webhooks: Any
) -> None:
    secret, headers, body, now = signed
    with pytest.raises(standard_webhooks.Invalid):
        standard_webhooks.verify(secret, headers, body, now=now + standard_webhooks.tolerance_s + 1)


def test_another_secret_does_not_verify(
    signed: tuple[str, dict[str, str], str, int], standard_webhooks: Any
) -> None:
    _, headers, body, now = signed
    other = SigningSecret.generate(lambda n: b"\x01" * n).reveal()
    with pytest.raises(standard_webhooks.Invalid):
        standard_webhooks.verify(other, headers, body, now=now)


def test_secrets_are_generated_in_the_contract_format_and_never_printed() -> None:
    secret = SigningSecret.generate(lambda n: b"\xff" * n)
    assert secret.reveal().startswith("whsec_")
    assert len(secret.key()) == 32
    assert SigningSecret.parse(secret.reveal()) == secret
    assert secret.reveal() not in repr(secret)
    assert secret.reveal() not in str(secret)
    assert secret.reveal() not in f"{secret!r} {secret}"


@pytest.mark.parametrize(
    "text",
    [
        "whsec_" + base64.b64encode(b"x" * 23).decode(),  # too short a key
        "whsec_" + base64.b64encode(b"x" * 65).decode(),  # too long a key
        "whsec_" + "A" * 33,  # not valid base64 (bad padding)
        "sk_" + base64.b64encode(b"x" * 32).decode(),
        "",
    ],
)
def test_a_callers_bad_secret_is_refused_without_echoing_it(text: str) -> None:
    with pytest.raises(InvalidEndpointError) as caught:
        SigningSecret.parse(text)
    assert [e.path for e in caught.value.errors] == ["body.secret"]
    if text:
        assert text not in str(caught.value)
