"""Token verification: every attack of issue 4 is rejected, a good token passes."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import time
import uuid
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from jwt.algorithms import ECAlgorithm, OKPAlgorithm

from shared.auth import (
    InvalidTokenError,
    JwksKeySource,
    Role,
    StaticKeySource,
    TokenExpiredError,
    TokenVerifier,
    http_jwks,
    load_jwks,
)
from shared.errors import DependencyUnavailableError

ISS, AUD, KID = "https://identity.test", "ordo-api", "key-1"


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class Issuer:
    def __init__(self) -> None:
        self.private = Ed25519PrivateKey.generate()
        self.jwk: dict[str, Any] = json.loads(OKPAlgorithm.to_jwk(self.private.public_key()))
        self.jwk.update(kid=KID, alg="EdDSA", use="sig")

    def claims(self, **overrides: Any) -> dict[str, Any]:
        now = int(time.time())
        claims = {
            "sub": str(uuid.uuid4()),
            "org_id": str(uuid.uuid4()),
            "roles": ["admin"],
            "iat": now,
            "nbf": now,
            "exp": now + 600,
            "iss": ISS,
            "aud": AUD,
            "jti": str(uuid.uuid4()),
        }
        claims.update(overrides)
        return {k: v for k, v in claims.items() if v is not None}

    def token(self, headers: dict[str, Any] | None = None, **claims: Any) -> str:
        head = {"kid": KID, "typ": "at+jwt", **(headers or {})}
        return jwt.encode(self.claims(**claims), self.private, algorithm="EdDSA", headers=head)

    def verifier(self, **kwargs: Any) -> TokenVerifier:
        return TokenVerifier(
            StaticKeySource({"keys": [self.jwk]}), issuer=ISS, audience=AUD, **kwargs
        )


@pytest.fixture
def issuer() -> Issuer:
    return Issuer()


def forge(header: dict[str, Any], payload: dict[str, Any], signature: bytes = b"") -> str:
    parts = [json.dumps(header).encode(), json.dumps(payload).encode()]
    return ".".join([*(b64(p) for p in parts), b64(signature)])


async def test_a_valid_token_gives_the_principal(issuer: Issuer) -> None:
    claims = issuer.claims()
    token = jwt.encode(claims, issuer.private, "EdDSA", headers={"kid": KID, "typ": "at+jwt"})
    principal = await issuer.verifier().verify(token)
    assert str(principal.user_id) == claims["sub"]
    assert str(principal.org_id) == claims["org_id"]
    assert principal.roles == {Role.ADMIN}
    assert principal.token_id == claims["jti"]


async def test_alg_none_is_rejected(issuer: Issuer) -> None:
    token = forge({"alg": "none", "kid": KID, "typ": "at+jwt"}, issuer.claims())
    with pytest.raises(InvalidTokenError):
        await issuer.verifier().verify(token)


@pytest.mark.parametrize(
    "secret",
    ["raw x", "jwk json", "pem"],
)
async def test_hs256_signed_with_the_public_key_is_rejected(issuer: Issuer, secret: str) -> None:
    public = issuer.private.public_key()
    material = {
        "raw x": base64.urlsafe_b64decode(issuer.jwk["x"] + "=="),
        "jwk json": json.dumps(issuer.jwk).encode(),
        "pem": public.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        ),
    }[secret]
    header = {"alg": "HS256", "kid": KID, "typ": "at+jwt"}
    signing_input = (
        f"{b64(json.dumps(header).encode())}.{b64(json.dumps(issuer.claims()).encode())}"
    )
    signature = hmac.new(material, signing_input.encode(), hashlib.sha256).digest()
    token = f"{signing_input}.{b64(signature)}"
    with pytest.raises(InvalidTokenError):
        await issuer.verifier().verify(token)


async def test_an_oct_key_in_the_jwks_is_never_loaded(issuer: Issuer) -> None:
    oct_key = {"kty": "oct", "kid": "hmac", "k": b64(b"public knowledge"), "alg": "HS256"}
    private_leak = {**issuer.jwk, "kid": "leak", "d": "AAAA"}
    assert set(load_jwks({"keys": [issuer.jwk, oct_key, private_leak]})) == {KID}


async def test_rs256_and_es256_tokens_are_rejected_when_not_allowed(issuer: Issuer) -> None:
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    ec_key = ec.generate_private_key(ec.SECP256R1())
    headers = {"kid": KID, "typ": "at+jwt"}
    for key, alg in ((rsa_key, "RS256"), (ec_key, "ES256")):
        token = jwt.encode(issuer.claims(), key, algorithm=alg, headers=headers)
        with pytest.raises(InvalidTokenError):
            await issuer.verifier().verify(token)


async def test_es256_is_checked_against_an_ec_key_only(issuer: Issuer) -> None:
    ec_key = ec.generate_private_key(ec.SECP256R1())
    ec_jwk = json.loads(ECAlgorithm.to_jwk(ec_key.public_key()))
    ec_jwk.update(kid="ec-1", alg="ES256")
    verifier = TokenVerifier(
        StaticKeySource({"keys": [issuer.jwk, ec_jwk]}),
        issuer=ISS,
        audience=AUD,
        algorithms=("EdDSA", "ES256"),
    )
    good = jwt.encode(issuer.claims(), ec_key, "ES256", headers={"kid": "ec-1", "typ": "at+jwt"})
    assert await verifier.verify(good)
    # An ES256 header pointing at the Ed25519 key: the key type does not fit the algorithm.
    confused = jwt.encode(issuer.claims(), ec_key, "ES256", headers={"kid": KID, "typ": "at+jwt"})
    with pytest.raises(InvalidTokenError):
        await verifier.verify(confused)


async def test_unknown_and_missing_kid_are_rejected(issuer: Issuer) -> None:
    with pytest.raises(InvalidTokenError):
        await issuer.verifier().verify(issuer.token({"kid": "who-knows"}))
    no_kid = jwt.encode(issuer.claims(), issuer.private, "EdDSA", headers={"typ": "at+jwt"})
    with pytest.raises(InvalidTokenError):
        await issuer.verifier().verify(no_kid)


async def test_a_token_signed_by_another_key_with_our_kid_is_rejected(issuer: Issuer) -> None:
    impostor = Ed25519PrivateKey.generate()
    token = jwt.encode(issuer.claims(), impostor, "EdDSA", headers={"kid": KID, "typ": "at+jwt"})
    with pytest.raises(InvalidTokenError):
        await issuer.verifier().verify(token)


async def test_expired_is_rejected_beyond_the_skew_only(issuer: Issuer) -> None:
    now = int(time.time())
    with pytest.raises(TokenExpiredError):
        await issuer.verifier(leeway_s=30).verify(issuer.token(exp=now - 31, iat=now - 700))
    assert await issuer.verifier(leeway_s=30).verify(issuer.token(exp=now - 10, iat=now - 700))


async def test_not_yet_valid_is_rejected(issuer: Issuer) -> None:
    now = int(time.time())
    with pytest.raises(InvalidTokenError):
        await issuer.verifier(leeway_s=30).verify(issuer.token(nbf=now + 120))


@pytest.mark.parametrize(("claim", "value"), [("aud", "another-api"), ("iss", "https://evil")])
async def test_wrong_audience_or_issuer_is_rejected(issuer: Issuer, claim: str, value: str) -> None:
    with pytest.raises(InvalidTokenError):
        await issuer.verifier().verify(issuer.token(**{claim: value}))


async def test_a_tampered_payload_is_rejected(issuer: Issuer) -> None:
    header, payload, signature = issuer.token().split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=="))
    claims["roles"] = ["owner"]
    tampered = f"{header}.{b64(json.dumps(claims).encode())}.{signature}"
    with pytest.raises(InvalidTokenError):
        await issuer.verifier().verify(tampered)


@pytest.mark.parametrize("missing", ["jti", "org_id", "roles", "exp", "nbf", "sub"])
async def test_required_claims_are_required(issuer: Issuer, missing: str) -> None:
    with pytest.raises(InvalidTokenError):
        await issuer.verifier().verify(issuer.token(**{missing: None}))


async def test_other_token_types_and_bad_roles_are_rejected(issuer: Issuer) -> None:
    with pytest.raises(InvalidTokenError):
        await issuer.verifier().verify(issuer.token({"typ": "JWT"}))
    with pytest.raises(InvalidTokenError):
        await issuer.verifier().verify(issuer.token(roles=["superuser"]))
    with pytest.raises(InvalidTokenError):
        await issuer.verifier().verify("not.a.jwt")


def test_the_verifier_refuses_unsafe_configuration(issuer: Issuer) -> None:
    keys = StaticKeySource({"keys": []})
    with pytest.raises(ValueError, match="only"):
        TokenVerifier(keys, issuer=ISS, audience=AUD, algorithms=("HS256",))
    with pytest.raises(ValueError, match="leeway"):
        TokenVerifier(keys, issuer=ISS, audience=AUD, leeway_s=300)


class FakeTime:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def test_jwks_is_refetched_on_an_unknown_kid_at_a_limited_rate(issuer: Issuer) -> None:
    served: list[dict[str, Any]] = [{"keys": []}]
    calls = 0

    def handler(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        return httpx.Response(200, json=served[-1])

    clock = FakeTime()
    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as client:
        keys = JwksKeySource(
            http_jwks("http://identity/jwks", client),
            ttl_s=300,
            min_refetch_interval_s=30,
            monotonic=clock,
        )
        verifier = TokenVerifier(keys, issuer=ISS, audience=AUD)
        token = issuer.token()
        with pytest.raises(InvalidTokenError):
            await verifier.verify(token)
        assert calls == 1
        served.append({"keys": [issuer.jwk]})  # identity rotated in a new key
        for _ in range(20):  # a flood of unknown kids within the interval: no fetch
            with pytest.raises(InvalidTokenError):
                await verifier.verify(issuer.token({"kid": f"x-{_}"}))
        assert calls == 1
        clock.now += 31
        assert await verifier.verify(token)  # unknown kid after the interval: one re-fetch
        assert calls == 2
        assert await verifier.verify(token)
        assert calls == 2


async def test_jwks_outage_serves_cached_keys_and_503s_without_any() -> None:
    issuer = Issuer()
    up = True

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200 if up else 503, json={"keys": [issuer.jwk]})

    clock = FakeTime()
    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as client:
        keys = JwksKeySource(http_jwks("http://identity/jwks", client), ttl_s=60, monotonic=clock)
        verifier = TokenVerifier(keys, issuer=ISS, audience=AUD)
        assert await verifier.verify(issuer.token())
        up = False
        clock.now += 120  # stale, and the refresh fails: keep serving the cached keys
        assert await verifier.verify(issuer.token())
        cold = JwksKeySource(http_jwks("http://identity/jwks", client), monotonic=clock)
        with pytest.raises(DependencyUnavailableError):
            await TokenVerifier(cold, issuer=ISS, audience=AUD).verify(issuer.token())


# -- the verified-token cache ------------------------------------------------------------------


class CountingKeys(StaticKeySource):
    """Counts key lookups: one per full verification."""

    def __init__(self, jwks: dict[str, Any]) -> None:
        super().__init__(jwks)
        self.lookups = 0

    async def get(self, kid: str) -> jwt.PyJWK | None:
        self.lookups += 1
        return await super().get(kid)


async def test_a_verified_token_is_remembered_until_it_expires(issuer: Issuer) -> None:
    keys = CountingKeys({"keys": [issuer.jwk]})
    verifier = TokenVerifier(keys, issuer=ISS, audience=AUD)
    token = issuer.token()
    first = await verifier.verify(token)
    assert await verifier.verify(token) == first
    assert keys.lookups == 1  # the second call did not check the signature again


async def test_a_tampered_copy_of_a_remembered_token_is_still_refused(issuer: Issuer) -> None:
    verifier = issuer.verifier()
    token = issuer.token()
    await verifier.verify(token)
    header, payload, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=="))
    claims["roles"] = ["owner"]
    tampered = ".".join([header, b64(json.dumps(claims).encode()), signature])
    with pytest.raises(InvalidTokenError):
        await verifier.verify(tampered)


async def test_a_remembered_token_is_checked_again_after_its_exp(issuer: Issuer) -> None:
    keys = CountingKeys({"keys": [issuer.jwk]})
    verifier = TokenVerifier(keys, issuer=ISS, audience=AUD, leeway_s=0)
    token = issuer.token(exp=int(time.time()) + 2)  # at least 1 s left for the first check
    await verifier.verify(token)
    deadline = time.monotonic() + 5
    while time.time() < json.loads(base64.urlsafe_b64decode(token.split(".")[1] + "=="))["exp"]:
        assert time.monotonic() < deadline
        await asyncio.sleep(0.05)
    with pytest.raises(TokenExpiredError):
        await verifier.verify(token)
    assert keys.lookups == 2


async def test_the_cache_can_be_turned_off(issuer: Issuer) -> None:
    keys = CountingKeys({"keys": [issuer.jwk]})
    verifier = TokenVerifier(keys, issuer=ISS, audience=AUD, cache_size=0)
    token = issuer.token()
    await verifier.verify(token)
    await verifier.verify(token)
    assert keys.lookups == 2
