"""The pieces of shared.caching on their own: TTL/LRU, jitter, policy, keys, codec, memo."""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest
from fastapi import FastAPI

from shared.caching import (
    CacheDecodeError,
    CacheKey,
    CachePolicy,
    JsonCodec,
    LocalTTLCache,
    RequestMemoMiddleware,
    current_memo,
    jittered,
    memo_scope,
)


class FakeTimer:
    """Monotonic seconds that move only when told."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_an_entry_expires_after_its_own_ttl() -> None:
    timer = FakeTimer()
    cache = LocalTTLCache(10, timer=timer)
    cache.set("a", b"1", ttl_s=5)
    cache.set("b", b"2", ttl_s=10)
    timer.now += 4.999
    assert (cache.get("a"), cache.get("b")) == (b"1", b"2")
    assert cache.remaining("a") == pytest.approx(0.001)
    timer.now += 0.001
    assert cache.get("a") is None
    assert cache.get("b") == b"2"
    timer.now += 5
    assert cache.get("b") is None
    assert len(cache) == 0


def test_the_least_recently_used_entry_goes_first_and_the_size_stays_bounded() -> None:
    cache = LocalTTLCache(3, timer=FakeTimer())
    for key in "abc":
        cache.set(key, key.encode(), ttl_s=60)
    assert cache.get("a") == b"a"  # now the most recently used
    cache.set("d", b"d", ttl_s=60)
    assert cache.get("b") is None
    assert [cache.get(k) for k in "acd"] == [b"a", b"c", b"d"]
    for i in range(100):
        cache.set(f"k{i}", b"x", ttl_s=60)
    assert len(cache) == 3


def test_no_ttl_stores_nothing_and_delete_and_clear_forget() -> None:
    cache = LocalTTLCache(3, timer=FakeTimer())
    cache.set("a", b"1", ttl_s=0)
    assert cache.get("a") is None
    cache.set("a", b"1", ttl_s=1)
    assert cache.delete("a") is True
    assert cache.delete("a") is False
    cache.set("b", b"1", ttl_s=1)
    assert cache.clear() == 1
    with pytest.raises(ValueError, match="max_entries"):
        LocalTTLCache(0)


@pytest.mark.parametrize("jitter", [0.0, 0.1, 0.2, 0.5])
def test_jitter_stays_within_its_bounds_and_spreads(jitter: float) -> None:
    assert jittered(100, jitter, lambda: 0.0) == pytest.approx(100 * (1 - jitter))
    assert jittered(100, jitter, lambda: 0.999999) == pytest.approx(100 * (1 + jitter), rel=1e-5)
    samples = [jittered(100, jitter) for _ in range(2000)]
    assert all(100 * (1 - jitter) <= s <= 100 * (1 + jitter) for s in samples)
    if jitter:
        assert max(samples) - min(samples) > 100 * jitter  # really spread, not constant


def test_jitter_and_policies_refuse_nonsense() -> None:
    with pytest.raises(ValueError, match="jitter"):
        jittered(10, 0.9)
    with pytest.raises(ValueError, match="explicit TTL"):
        CachePolicy(ttl_s=0)
    with pytest.raises(ValueError, match="negative"):
        CachePolicy(ttl_s=1, negative_ttl_s=-1)
    with pytest.raises(ValueError, match="jitter"):
        CachePolicy(ttl_s=1, jitter=0.6)
    policy = CachePolicy(ttl_s=30, negative_ttl_s=5, local_ttl_s=60)
    assert (policy.ttl_for(True), policy.ttl_for(False), policy.local_cap()) == (30, 5, 30)


def test_keys_name_their_tenant_and_cannot_forge_another() -> None:
    assert CacheKey("org-1", "p1").render() == "org-1:p1"
    assert CacheKey("org-1", "a:b").render() != CacheKey("org-1:a", "b").render()
    with pytest.raises(ValueError, match="tenant"):
        CacheKey("", "x")


def test_the_codec_is_json_in_an_envelope_and_refuses_anything_else() -> None:
    codec = JsonCodec[dict[str, int]](dump=dict, load=lambda raw: {"n": int(raw["n"])})
    raw = codec.encode(True, {"n": 1})
    assert json.loads(raw) == {"found": True, "value": {"n": 1}}
    assert codec.decode(raw).value == {"n": 1}
    absent = codec.decode(codec.encode(False, None))
    assert (absent.found, absent.value) == (False, None)
    for bad in (b"\x80\x04\x95", b"[1]", b'{"found": "yes"}', b'{"found": true, "value": {}}'):
        with pytest.raises(CacheDecodeError):
            codec.decode(bad)


async def test_a_memo_lives_for_one_scope_and_concurrent_scopes_are_separate() -> None:
    assert current_memo() is None
    with memo_scope() as outer:
        outer["k"] = 1
        with memo_scope() as inner:
            assert current_memo() is inner
            assert "k" not in inner
        assert current_memo() is outer

    async def request(n: int) -> object:
        with memo_scope() as memo:
            memo["k"] = n
            await asyncio.sleep(0)
            return (current_memo() or {}).get("k")

    assert await asyncio.gather(*(request(n) for n in range(5))) == list(range(5))
    assert current_memo() is None


async def test_the_middleware_gives_each_request_its_own_memo() -> None:
    app = FastAPI()
    seen: list[object] = []  # the memos themselves: a freed one's id() can be reused

    @app.get("/")
    async def endpoint() -> dict[str, int]:
        memo = current_memo()
        assert memo is not None
        seen.append(memo)
        memo["x"] = 1
        return {"size": len(memo)}

    app.add_middleware(RequestMemoMiddleware)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://t"
    ) as client:
        sizes = [(await client.get("/")).json()["size"] for _ in range(2)]
    assert sizes == [1, 1]
    assert len(seen) == 2
    assert seen[0] is not seen[1]
