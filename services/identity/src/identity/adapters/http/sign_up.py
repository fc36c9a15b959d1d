"""``POST /auth/signup`` as SignUp stores it under an Idempotency-Key: method, path and status.

The record keeps only the ids the sign-up created (never the session's tokens); a replay
issues a fresh session from them (see ``SignUp``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fastapi import status

from shared.idempotency import IdempotentResponse, request_fingerprint

__all__ = ["SignUpHttp"]


class SignUpHttp:
    """Implements ``CreatingOperation[Mapping[str, str]]`` for ``POST /auth/signup``."""

    def fingerprint(self, body: Mapping[str, Any]) -> str:
        """The request's fingerprint: method, path and body (the password left out)."""
        return request_fingerprint("POST", "/auth/signup", body)

    def render(self, result: Mapping[str, str]) -> IdempotentResponse:
        """201 with the created user's and org's ids."""
        return IdempotentResponse(status.HTTP_201_CREATED, dict(result))
