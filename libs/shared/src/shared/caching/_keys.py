"""Cache keys: which tenant an entry belongs to, and its id within one cache."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote

__all__ = ["CacheKey"]


@dataclass(frozen=True, slots=True)
class CacheKey:
    """One cached item: the tenant it belongs to and its id within its cache.

    Every key names its tenant, so an entry can only ever answer a request of the same tenant,
    and keys of one tenant share a prefix in Redis. Both parts are percent-encoded when rendered,
    so an id cannot forge another tenant's key (``a:b`` stays one component).

    Attributes:
        tenant: the org (or other tenant) id; never empty.
        id: what identifies the item in its cache (a product id, a SKU); never empty.
    """

    tenant: str
    id: str

    def __post_init__(self) -> None:
        if not self.tenant or not self.id:
            raise ValueError("a cache key needs a tenant and an id")

    def render(self) -> str:
        """``<tenant>:<id>``, each part percent-encoded."""
        return f"{quote(self.tenant, safe='')}:{quote(self.id, safe='')}"
