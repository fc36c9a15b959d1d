"""Authentication and authorization for every Ordo service.

- :class:`TokenVerifier` verifies identity's access tokens (EdDSA/ES256 only, ``kid`` required,
  ``iss``/``aud``/``exp``/``nbf`` with a bounded skew) against a :class:`KeySource`:
  :class:`JwksKeySource` (identity's JWKS over HTTP, cached, re-fetched on an unknown ``kid`` at
  a limited rate) or :class:`StaticKeySource`.
- :class:`Principal`, :class:`Role` and :class:`PermissionPolicy` (in the framework-free
  :mod:`shared.auth.principal`, which application layers import) authorize inside use cases:
  another org's resource is *not found*, a missing role is *permission denied*.
- :class:`BearerAuth` (in :mod:`shared.auth.dependencies`) is the FastAPI dependency.
- :func:`parse_permission_matrix` reads the matrix of ``docs/security.md`` for tests.
- :class:`AuthSettings` (a service's ``auth`` settings) and :func:`jwks_verifier` wire the
  verifier of every service that does not issue tokens itself.
"""

from shared.auth._keys import (
    ALLOWED_ALGORITHMS,
    JwksFetcher,
    JwksKeySource,
    KeySource,
    StaticKeySource,
    http_jwks,
    load_jwks,
)
from shared.auth._settings import AuthSettings, jwks_verifier
from shared.auth._verifier import (
    ACCESS_TOKEN_TYPE,
    MAX_LEEWAY_S,
    InvalidTokenError,
    TokenExpiredError,
    TokenVerifier,
)
from shared.auth.dependencies import BearerAuth, bearer_token
from shared.auth.matrix import parse_permission_matrix
from shared.auth.principal import ROLES, PermissionPolicy, Principal, Role, ensure_same_org

__all__ = [
    "ACCESS_TOKEN_TYPE",
    "ALLOWED_ALGORITHMS",
    "MAX_LEEWAY_S",
    "ROLES",
    "AuthSettings",
    "BearerAuth",
    "InvalidTokenError",
    "JwksFetcher",
    "JwksKeySource",
    "KeySource",
    "PermissionPolicy",
    "Principal",
    "Role",
    "StaticKeySource",
    "TokenExpiredError",
    "TokenVerifier",
    "bearer_token",
    "ensure_same_org",
    "http_jwks",
    "jwks_verifier",
    "load_jwks",
    "parse_permission_matrix",
]
