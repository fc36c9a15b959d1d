"""Retry versus dead letter: the redelivery policy (backoff) and the failure classification."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass

from pydantic import ValidationError as PydanticValidationError

from shared.errors import AppError, InfrastructureError, is_transient

# One attempt per exponent step; beyond this every delay is max_delay_s anyway.
_MAX_EXPONENT = 64


@dataclass(frozen=True, slots=True)
class RedeliveryPolicy:
    """How often and how patiently a message that failed transiently is tried again.

    The wait after the n-th failure is ``min(max_delay_s, initial_delay_s * multiplier**(n-1))``
    scaled by a random factor in ``[1 - jitter, 1]`` ("equal jitter" for ``jitter=0.5``). Jitter
    spreads the retries of many partitions that failed together (a database failover) so the
    dependency is not hit by a synchronised wave; the floor keeps a retry from firing at once.

    Attributes:
        max_attempts: handling attempts in total, the first included; the message is
            dead-lettered after the last one fails. 1 dead-letters at the first failure.
        initial_delay_s: the wait after the first failure.
        multiplier: growth of the wait per failure.
        max_delay_s: the cap of any single wait.
        jitter: fraction of each wait that is randomised away, in ``[0, 1]``.
    """

    max_attempts: int = 6
    initial_delay_s: float = 1.0
    multiplier: float = 3.0
    max_delay_s: float = 60.0
    jitter: float = 0.5

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        if self.initial_delay_s < 0 or self.max_delay_s < 0:
            raise ValueError("delays must not be negative")
        if self.multiplier < 1:
            raise ValueError("multiplier must be at least 1")
        if not 0 <= self.jitter <= 1:
            raise ValueError("jitter must be within [0, 1]")

    def base_delay(self, failures: int) -> float:
        """Return the un-jittered wait after ``failures`` failures (``failures >= 1``)."""
        if failures < 1:
            raise ValueError("failures counts from 1")
        exponent = min(failures - 1, _MAX_EXPONENT)
        try:
            grown = self.initial_delay_s * self.multiplier**exponent
        except OverflowError:
            return self.max_delay_s
        return min(self.max_delay_s, grown)

    def delay(self, failures: int, rand: Callable[[], float] = random.random) -> float:
        """Return the jittered wait after ``failures`` failures; ``rand`` yields ``[0, 1)``."""
        return self.base_delay(failures) * (1.0 - self.jitter * rand())

    def worst_case_total_s(self) -> float:
        """Return the longest a message can spend waiting between its first and last attempt."""
        return sum(self.base_delay(n) for n in range(1, self.max_attempts))


@dataclass(frozen=True, slots=True)
class Failure:
    """A handling failure as the consumer records it: safe to put in headers and metrics.

    Attributes:
        transient: retrying later may succeed (:func:`shared.errors.is_transient`).
        code: the stable dotted error code (``validation.failed``, ``internal.error``, ...).
        message: a caller-safe, single-line message; never an exception's raw text, which can
            carry SQL, hosts or personal data.
        error_class: the exception's qualified class name, for whoever debugs the dead letter.
    """

    transient: bool
    code: str
    message: str
    error_class: str


def classify_failure(exc: BaseException) -> Failure:
    """Map an exception raised while handling a message to retry or dead-letter, with its code.

    ``AppError``s keep their own code and message (messages are caller-safe by contract). A
    pydantic validation error is a ``validation.failed``. Any other exception gets a generic
    message naming only its class: its text is not known to be safe.
    """
    transient = is_transient(exc)
    error_class = f"{type(exc).__module__}.{type(exc).__qualname__}"
    name = type(exc).__name__
    if isinstance(exc, AppError):
        return Failure(transient, exc.code, exc.message, error_class)
    if isinstance(exc, PydanticValidationError):
        count = exc.error_count()
        message = f"The payload failed validation ({count} error(s))."
        return Failure(transient, "validation.failed", message, error_class)
    if transient:
        message = f"A dependency failed ({name}); the message may succeed later."
        return Failure(transient, InfrastructureError.code, message, error_class)
    return Failure(transient, AppError.code, f"The handler raised {name}.", error_class)
