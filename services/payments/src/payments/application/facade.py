"""Payments' use cases, grouped by the processes that run them.

- :class:`PaymentsUseCases`: the saga's requests and cancels (consumer) and reads (API); none
  of them calls the provider.
- :class:`WorkerUseCases`: claiming due payments and running them against the provider, and
  measuring what may still be held for cancelled orders.
"""

from __future__ import annotations

from dataclasses import dataclass

from payments.application.use_cases.authorize_payment import AuthorizePayment
from payments.application.use_cases.cancel_payment import CancelPayment
from payments.application.use_cases.claim_due_payments import ClaimDuePayments
from payments.application.use_cases.get_payment import GetPayment
from payments.application.use_cases.measure_held_authorizations import MeasureHeldAuthorizations
from payments.application.use_cases.request_payment import RequestPayment
from payments.application.use_cases.void_payment import VoidPayment

__all__ = ["PaymentsUseCases", "WorkerUseCases"]


@dataclass(frozen=True, slots=True)
class PaymentsUseCases:
    """The use cases of the API and the consumer, wired by ``payments.bootstrap``."""

    request_payment: RequestPayment
    cancel_payment: CancelPayment
    get_payment: GetPayment


@dataclass(frozen=True, slots=True)
class WorkerUseCases:
    """The worker's use cases (the only ones that call the provider)."""

    claim_due_payments: ClaimDuePayments
    authorize_payment: AuthorizePayment
    void_payment: VoidPayment
    measure_held_authorizations: MeasureHeldAuthorizations
