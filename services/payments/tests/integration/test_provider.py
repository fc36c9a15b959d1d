"""The provider adapter against the REAL fake provider over HTTP: answers, retries, timeouts,
the circuit breaker, replays after a lost answer, voids and lookups."""

from __future__ import annotations

import asyncio
import time
import uuid

import pytest

from payment_provider import ProviderConfig
from payments.adapters.provider.http import BREAKER_NAME, ProviderUnavailableError
from payments.application.ports import AuthorizationRequest
from payments.domain.values import (
    AttemptOutcome,
    Authorized,
    Declined,
    DeferralReason,
    FailureReason,
    Money,
    Unavailable,
)
from shared.errors import DependencyUnavailableError, is_transient
from shared.observability.metrics import Metrics
from shared.resilience import BreakerState

from .conftest import Provider, fast_provider_settings, provider_adapter, serve_provider

pytestmark = pytest.mark.integration


def request(amount: int = 4997) -> AuthorizationRequest:
    return AuthorizationRequest(str(uuid.uuid4()), Money(amount, "EUR"), str(uuid.uuid4()))


def breaker_gauge(metrics: Metrics) -> float | None:
    return metrics.registry.get_sample_value("breaker_state", {"name": BREAKER_NAME})


async def test_authorises_once_per_key_and_a_replay_is_the_same_answer(
    provider: Provider, metrics: Metrics
) -> None:
    async with provider_adapter(fast_provider_settings(provider.url), metrics) as adapter:
        asked = request()
        first = await adapter.authorize(asked)
        again = await adapter.authorize(asked)
    assert isinstance(first.outcome, Authorized)
    assert again.outcome == first.outcome
    assert [(c.outcome, c.provider_status) for c in first.calls] == [
        (AttemptOutcome.AUTHORIZED, 201)
    ]
    assert [(c.outcome, c.provider_status) for c in again.calls] == [
        (AttemptOutcome.AUTHORIZED, 200)
    ]
    assert len(await provider.authorizations(asked.reference)) == 1
    stats = await provider.stats()
    assert stats["outcomes"]["authorized"] == 1
    assert stats["outcomes"]["replayed"] == 1


@pytest.mark.parametrize(
    ("token", "reason"),
    [
        ("tok_decline", FailureReason.DECLINED),
        ("tok_insufficient_funds", FailureReason.INSUFFICIENT_FUNDS),
    ],
)
async def test_a_decline_is_definitive_and_not_retried(
    provider: Provider, metrics: Metrics, token: str, reason: FailureReason
) -> None:
    settings = fast_provider_settings(provider.url, card_token=token)
    async with provider_adapter(settings, metrics) as adapter:
        result = await adapter.authorize(request())
    assert isinstance(result.outcome, Declined)
    assert result.outcome.reason is reason
    assert len(result.calls) == 1


async def test_a_request_the_provider_refuses_is_rejected_not_retried(
    provider: Provider, metrics: Metrics
) -> None:
    async with provider_adapter(fast_provider_settings(provider.url), metrics) as adapter:
        result = await adapter.authorize(request(amount=0))  # the provider wants > 0
    assert result.outcome == Declined(FailureReason.PROVIDER_REJECTED, "validation")
    assert [(c.outcome, c.provider_status) for c in result.calls] == [
        (AttemptOutcome.DECLINED, 422)
    ]
    assert breaker_gauge(metrics) == BreakerState.CLOSED.gauge_value


async def test_provider_errors_are_retried_within_the_budget(
    provider: Provider, metrics: Metrics
) -> None:
    await provider.behave(error_rate=1.0)
    async with provider_adapter(fast_provider_settings(provider.url), metrics) as adapter:
        result = await adapter.authorize(request())
    assert result.outcome == Unavailable(DeferralReason.PROVIDER_ERROR)
    assert [(c.outcome, c.provider_status) for c in result.calls] == [
        (AttemptOutcome.PROVIDER_ERROR, 503)
    ] * 3
    assert (await provider.stats())["outcomes"]["error_before"] == 3


async def test_a_transient_error_then_success_is_one_authorisation(metrics: Metrics) -> None:
    # Seeded: the fake's draws make the first call fail and a later one pass.
    async with serve_provider(ProviderConfig(error_rate=0.5, seed=3)) as provider:
        settings = fast_provider_settings(provider.url, retry_attempts=10, retry_budget_s=5)
        async with provider_adapter(settings, metrics) as adapter:
            result = await adapter.authorize(request())
        assert isinstance(result.outcome, Authorized)
        outcomes = [c.outcome for c in result.calls]
        assert outcomes[-1] is AttemptOutcome.AUTHORIZED
        assert AttemptOutcome.PROVIDER_ERROR in outcomes
        assert (await provider.stats())["authorizations"] == 1


async def test_a_lost_answer_is_replayed_into_one_authorisation(
    provider: Provider, metrics: Metrics
) -> None:
    await provider.behave(error_after_commit_rate=1.0)
    settings = fast_provider_settings(provider.url, breaker_fail_max=10)
    async with provider_adapter(settings, metrics) as adapter:
        asked = request()
        lost = await adapter.authorize(asked)
        assert lost.outcome == Unavailable(DeferralReason.PROVIDER_ERROR)
        assert [c.provider_status for c in lost.calls] == [500, 500, 500]
        await provider.behave()
        found = await adapter.authorize(asked)
    assert isinstance(found.outcome, Authorized)
    assert found.calls[0].provider_status == 200  # the replay of the first, recorded one
    held = await provider.authorizations(asked.reference)
    assert [h["id"] for h in held] == [found.outcome.reference]


async def test_a_hanging_provider_times_out_and_opens_the_breaker(
    provider: Provider, metrics: Metrics
) -> None:
    await provider.outage(30, mode="hang")
    settings = fast_provider_settings(provider.url, call_timeout_s=0.2, breaker_fail_max=3)
    async with provider_adapter(settings, metrics) as adapter:
        started = time.monotonic()
        result = await adapter.authorize(request())
        elapsed = time.monotonic() - started
        assert result.outcome == Unavailable(DeferralReason.PROVIDER_TIMEOUT)
        assert [c.outcome for c in result.calls] == [AttemptOutcome.TIMEOUT] * 3
        assert all(180 <= c.duration_ms < 1000 for c in result.calls)
        assert elapsed < 2.0  # three deadlines and short backoffs, not the 30 s hang
        assert adapter.breaker.state is BreakerState.OPEN
        assert breaker_gauge(metrics) == BreakerState.OPEN.gauge_value
        refused = await adapter.authorize(request())
    assert refused.outcome == Unavailable(DeferralReason.CIRCUIT_OPEN)
    assert [(c.outcome, c.duration_ms) for c in refused.calls] == [(AttemptOutcome.CIRCUIT_OPEN, 0)]


async def test_the_breaker_closes_again_after_the_outage(
    provider: Provider, metrics: Metrics
) -> None:
    await provider.outage(30)
    settings = fast_provider_settings(provider.url, breaker_reset_timeout_s=0.3)
    async with provider_adapter(settings, metrics) as adapter:
        down = await adapter.authorize(request())
        assert down.outcome == Unavailable(DeferralReason.PROVIDER_ERROR)
        assert adapter.breaker.state is BreakerState.OPEN
        await provider.end_outages()
        await asyncio.sleep(0.35)
        up = await adapter.authorize(request())
    assert isinstance(up.outcome, Authorized)
    assert adapter.breaker.state is BreakerState.CLOSED
    assert breaker_gauge(metrics) == BreakerState.CLOSED.gauge_value


async def test_void_and_lookup(provider: Provider, metrics: Metrics) -> None:
    async with provider_adapter(fast_provider_settings(provider.url), metrics) as adapter:
        asked = request()
        result = await adapter.authorize(asked)
        assert isinstance(result.outcome, Authorized)
        [found] = await adapter.find_authorizations(asked.reference)
        assert (found.id, found.status) == (result.outcome.reference, "authorized")
        assert await adapter.void(found.id) is True
        assert await adapter.void(found.id) is True  # voiding again answers the same
        assert await adapter.void("auth_unknown") is False
        [after] = await adapter.find_authorizations(asked.reference)
        assert after.status == "voided"
        assert await adapter.find_authorizations("nothing-here") == []
        declined = fast_provider_settings(provider.url, card_token="tok_decline")
        async with provider_adapter(declined, metrics) as refusing:
            refused = request()
            assert isinstance((await refusing.authorize(refused)).outcome, Declined)
        [held] = await adapter.find_authorizations(refused.reference)
        assert held.status == "declined"
        assert await adapter.void(held.id) is False  # 409: a decline holds nothing


async def test_void_during_an_outage_raises_a_transient_error(
    provider: Provider, metrics: Metrics
) -> None:
    async with provider_adapter(fast_provider_settings(provider.url), metrics) as adapter:
        asked = request()
        result = await adapter.authorize(asked)
        assert isinstance(result.outcome, Authorized)
        await provider.outage(30)
        with pytest.raises(ProviderUnavailableError) as down:
            await adapter.void(result.outcome.reference)
        assert is_transient(down.value)
        # Three failures opened the circuit: the lookup is refused without a call.
        with pytest.raises(DependencyUnavailableError) as refused:
            await adapter.find_authorizations(asked.reference)
        assert refused.value.code == "dependency.circuit_open"
        assert is_transient(refused.value)
