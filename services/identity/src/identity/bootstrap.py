"""Composition root of identity: the only module that reads settings and wires adapters.

- :func:`bootstrap` wires the use cases from ports (unit tests pass fakes, no IO);
- :func:`build_app` builds the HTTP app on PostgreSQL, argon2id and the sealed signing keys;
- :func:`build_relay` builds the outbox relay of ``identity.events``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import timedelta
from functools import partial
from importlib.metadata import version

from fastapi import FastAPI
from pydantic import BaseModel, Field, SecretStr
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from identity.adapters.crypto.keys import (
    Ed25519SigningKeyFactory,
    JwtAccessTokenSigner,
    KeyEncryptionKey,
)
from identity.adapters.crypto.passwords import Argon2PasswordHasher
from identity.adapters.http.routes import build_router
from identity.adapters.http.sign_up import SignUpHttp
from identity.adapters.messaging.events import SOURCE
from identity.adapters.persistence.tables import outbox as outbox_table
from identity.adapters.persistence.unit_of_work import IdentityUnitOfWork
from identity.application.facade import IdentityUseCases
from identity.application.ports import (
    AccessTokenSigner,
    PasswordHasher,
    SigningKeyFactory,
    UnitOfWorkFactory,
)
from identity.application.sessions import SessionIssuer, TokenPolicy
from identity.application.use_cases.add_member import AddMember
from identity.application.use_cases.change_member_role import ChangeMemberRole
from identity.application.use_cases.get_jwks import GetJwks
from identity.application.use_cases.get_me import GetMe
from identity.application.use_cases.get_org import GetOrg
from identity.application.use_cases.list_members import ListMembers
from identity.application.use_cases.log_in import LogIn
from identity.application.use_cases.log_out import LogOut
from identity.application.use_cases.refresh_session import RefreshSession
from identity.application.use_cases.remove_member import RemoveMember
from identity.application.use_cases.rotate_signing_key import EnsureSigningKey, RotateSigningKey
from identity.application.use_cases.sign_up import SignUp
from identity.application.use_cases.switch_org import SwitchOrg
from shared.auth import JwksKeySource, TokenVerifier
from shared.auth.dependencies import BearerAuth
from shared.clock import Clock, SystemClock
from shared.db import check_postgres, create_engine, create_session_factory
from shared.http import create_app
from shared.outbox import (
    Doorbell,
    Outbox,
    OutboxRelay,
    PgNotifyDoorbell,
)
from shared.outbox.process import build_relay_process
from shared.process import ProcessResources
from shared.settings import ServiceSettings

__all__ = [
    "IdentitySettings",
    "bootstrap",
    "build_app",
    "build_relay",
    "build_use_cases",
    "token_policy",
]


class TokenSettings(BaseModel):
    """Issuer, audience and lifetimes of identity's tokens."""

    issuer: str = "https://identity.ordo.local"
    audience: str = "ordo-api"
    access_ttl_s: int = Field(default=600, ge=300, le=900)
    refresh_ttl_s: int = Field(default=30 * 24 * 3600, ge=3600)
    leeway_s: float = Field(default=30.0, ge=0, le=60)


class PasswordSettings(BaseModel):
    """argon2id cost (RFC 9106 second recommendation by default; tests lower it)."""

    time_cost: int = Field(default=3, ge=1)
    memory_cost_kib: int = Field(default=65536, ge=8)
    parallelism: int = Field(default=4, ge=1)


class IdentitySettings(ServiceSettings):
    """Identity settings; ``signing_kek`` comes from the secret file of that name."""

    service_name: str = "identity"
    http_port: int = 8001
    relay_health_port: int = 8101
    signing_kek: SecretStr = SecretStr("")
    tokens: TokenSettings = TokenSettings()
    passwords: PasswordSettings = PasswordSettings()


def token_policy(settings: IdentitySettings) -> TokenPolicy:
    """The token policy the settings describe; retired keys stay published for one access TTL
    plus the verifiers' skew plus a minute of JWKS caching."""
    tokens = settings.tokens
    access = timedelta(seconds=tokens.access_ttl_s)
    return TokenPolicy(
        issuer=tokens.issuer,
        audience=tokens.audience,
        access_ttl=access,
        refresh_ttl=timedelta(seconds=tokens.refresh_ttl_s),
        key_publish_window=access + timedelta(seconds=tokens.leeway_s + 60),
    )


def bootstrap(
    *,
    uow: UnitOfWorkFactory,
    hasher: PasswordHasher,
    signer: AccessTokenSigner,
    key_factory: SigningKeyFactory,
    policy: TokenPolicy,
    clock: Clock | None = None,
) -> IdentityUseCases:
    """Wire every use case from its ports (real adapters or fakes)."""
    clock = clock or SystemClock()
    sessions = SessionIssuer(signer, clock, policy)
    return IdentityUseCases(
        sign_up=SignUp(uow, hasher, sessions, clock, SignUpHttp()),
        log_in=LogIn(uow, hasher, sessions),
        refresh_session=RefreshSession(uow, sessions, clock),
        log_out=LogOut(uow, clock),
        switch_org=SwitchOrg(uow, sessions, clock),
        get_me=GetMe(uow),
        get_org=GetOrg(uow),
        list_members=ListMembers(uow),
        add_member=AddMember(uow, clock),
        change_member_role=ChangeMemberRole(uow, clock),
        remove_member=RemoveMember(uow, clock),
        get_jwks=GetJwks(uow, clock, policy),
        rotate_signing_key=RotateSigningKey(uow, key_factory, clock, policy),
        ensure_signing_key=EnsureSigningKey(uow, key_factory, clock),
    )


def key_encryption_key(settings: IdentitySettings) -> KeyEncryptionKey:
    """The KEK from the ``signing_kek`` secret; a clear error when it is missing."""
    encoded = settings.signing_kek.get_secret_value()
    if not encoded:
        raise RuntimeError(
            "the signing_kek secret is missing: run `ordo-identity-cli init-keys` "
            "(it creates one in ORDO_SECRETS_DIR) or mount it"
        )
    return KeyEncryptionKey(encoded)


def build_use_cases(
    settings: IdentitySettings,
    sessions: async_sessionmaker[AsyncSession],
    doorbell: Doorbell | None = None,
    *,
    clock: Clock | None = None,
) -> IdentityUseCases:
    """Wire the use cases on the real adapters over ``sessions``; ``doorbell`` wakes the relay
    (another process) right after commits that wrote events; ``clock`` is the system's unless
    a test passes one."""
    kek = key_encryption_key(settings)
    outbox = Outbox(outbox_table, source=SOURCE)
    passwords = settings.passwords
    return bootstrap(
        uow=partial(IdentityUnitOfWork, sessions, outbox, doorbell),
        hasher=Argon2PasswordHasher(
            time_cost=passwords.time_cost,
            memory_cost_kib=passwords.memory_cost_kib,
            parallelism=passwords.parallelism,
        ),
        signer=JwtAccessTokenSigner(kek),
        key_factory=Ed25519SigningKeyFactory(kek),
        policy=token_policy(settings),
        clock=clock,
    )


def build_verifier(settings: IdentitySettings, use_cases: IdentityUseCases) -> TokenVerifier:
    """Identity verifies its own tokens from its database's JWKS (re-read on an unknown kid)."""
    keys = JwksKeySource(use_cases.get_jwks, ttl_s=60.0, min_refetch_interval_s=1.0)
    return TokenVerifier(
        keys,
        issuer=settings.tokens.issuer,
        audience=settings.tokens.audience,
        leeway_s=settings.tokens.leeway_s,
    )


def build_app(settings: IdentitySettings, *, resources: ProcessResources | None = None) -> FastAPI:
    """Wire identity's HTTP app; a signing key is created at start-up if none exists.

    ``resources``: the engine and doorbell of the process it shares with the relay (which
    closes them), else its own.
    """
    release: list[Callable[[], Awaitable[object]]] = []
    doorbell: Doorbell
    if resources is not None:
        engine, doorbell = resources.engine, resources.doorbell
    else:
        engine = create_engine(settings.database, application_name=settings.service_name)
        own = PgNotifyDoorbell(
            settings.database, outbox_table, application_name="identity-doorbell"
        )
        doorbell, release = own, [own.close, engine.dispose]
    use_cases = build_use_cases(settings, create_session_factory(engine), doorbell)
    auth = BearerAuth(build_verifier(settings, use_cases))

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        try:
            await use_cases.ensure_signing_key()
            yield
        finally:
            for close in release:
                await close()

    return create_app(
        title="Ordo identity",
        version=version("ordo-identity"),
        settings=settings,
        readiness={"postgres": partial(check_postgres, engine)},
        lifespan=lifespan,
        routers=[build_router(use_cases, auth)],
        readiness_timeout_s=settings.readiness_timeout_s,
    )


def build_relay(settings: IdentitySettings) -> tuple[OutboxRelay, FastAPI]:
    """Wire the outbox relay of ``identity.events`` and its small health/metrics app."""
    return build_relay_process(settings, table=outbox_table, version=version("ordo-identity"))
