"""Redis plumbing: a client factory sized from settings, and a readiness probe.

Layered caching (per request, in-process TTL LRU, Redis) builds on this in a later issue.
"""

from shared.caching._redis import check_redis, create_redis

__all__ = ["check_redis", "create_redis"]
