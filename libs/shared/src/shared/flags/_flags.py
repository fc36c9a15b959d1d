"""The flag port, its OpenFeature adapter on a flagd flag file, and a fixed one for tests."""

from __future__ import annotations

import itertools
import threading
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Protocol

import structlog
from openfeature import api
from openfeature.client import OpenFeatureClient
from openfeature.contrib.provider.flagd import FlagdProvider
from openfeature.contrib.provider.flagd.config import ResolverType
from openfeature.evaluation_context import EvaluationContext
from openfeature.event import EventDetails, ProviderEvent
from openfeature.provider.no_op_provider import NoOpProvider

__all__ = ["FeatureFlags", "OpenFeatureFlags", "StaticFlags", "process_flags"]

log = structlog.get_logger(__name__)

OrgId = uuid.UUID | str | None
# Evaluations remembered per (flag, org, default) between two changes of the file. Beyond it
# the memo starts again: a process serving very many tenants re-evaluates, it never grows.
_MEMO_MAX = 10_000
_domains = itertools.count(1)


class FeatureFlags(Protocol):
    """Whether a flagged behaviour is on, for one org (or for everyone)."""

    def enabled(self, flag: str, *, org_id: OrgId = None, default: bool) -> bool:
        """Return the flag's value for ``org_id``; ``default`` when it cannot be evaluated."""
        ...


class StaticFlags:
    """Fixed values (tests, and processes given no flag file): a flag not set is its default.

    Args:
        values: flag -> value for every org.
    """

    def __init__(self, values: Mapping[str, bool] | None = None) -> None:
        self._values = dict(values or {})
        self._per_org: dict[tuple[str, str], bool] = {}

    def set(self, flag: str, value: bool, *, org_id: OrgId = None) -> None:
        """Set ``flag`` for everyone, or for ``org_id`` only (which wins over everyone)."""
        if org_id is None:
            self._values[flag] = value
        else:
            self._per_org[flag, str(org_id)] = value

    def enabled(self, flag: str, *, org_id: OrgId = None, default: bool) -> bool:
        """The value set for the org, else for everyone, else ``default``."""
        if org_id is not None and (flag, str(org_id)) in self._per_org:
            return self._per_org[flag, str(org_id)]
        return self._values.get(flag, default)


class OpenFeatureFlags:
    """Flags of a flagd flag file, evaluated in process by OpenFeature's flagd provider.

    The file is polled every ``poll_ms`` and re-read when its modification time changes; each
    instance has its own OpenFeature domain, so several files (tests) can be open at once.
    Evaluating costs ~70 us (context merging, hooks, JSON Logic), so results are remembered
    per (flag, org) until the provider reports a change of the file.

    Raises:
        ProviderNotReadyError (openfeature): the file is missing or not a flag file.
    """

    def __init__(self, path: str | Path, *, poll_ms: int = 500) -> None:
        self.path = Path(path)
        self._domain = f"ordo-flags-{next(_domains)}"
        self._memo: dict[tuple[str, str | None, bool], bool] = {}
        self._broken = False
        self._provider = FlagdProvider(
            resolver_type=ResolverType.FILE,
            offline_flag_source_path=str(self.path),
            deadline_ms=poll_ms,
        )
        self._client: OpenFeatureClient = api.get_client(self._domain)
        for event in (
            ProviderEvent.PROVIDER_READY,
            ProviderEvent.PROVIDER_CONFIGURATION_CHANGED,
            ProviderEvent.PROVIDER_ERROR,
        ):
            self._client.add_handler(event, self._changed)
        api.set_provider_and_wait(self._provider, self._domain)

    def enabled(self, flag: str, *, org_id: OrgId = None, default: bool) -> bool:
        """The flag's value for ``org_id`` (targeting sees ``org_id`` and the targeting key)."""
        org = None if org_id is None else str(org_id)
        memo = self._memo  # a change swaps the dict: a result computed before it is not kept
        key = (flag, org, default)
        found = memo.get(key)
        if found is not None:
            return found
        context = (
            EvaluationContext(targeting_key=org, attributes={"org_id": org})
            if org is not None
            else EvaluationContext()
        )
        value = self._client.get_boolean_value(flag, default, context)
        if len(memo) >= _MEMO_MAX:
            memo.clear()
        memo[key] = value
        return value

    def close(self) -> None:
        """Stop watching the file (its thread ends within one poll)."""
        api.set_provider(NoOpProvider(), self._domain)

    def _changed(self, details: EventDetails) -> None:
        # Called on the provider's file-watching thread. A file that stops parsing keeps the
        # last good flags (the provider retries every poll): say so once, not every poll.
        self._memo = {}
        broken = details.error_code is not None
        if broken and not self._broken:
            log.error("flags.file_unreadable", path=str(self.path), reason=details.message)
        elif not broken:
            log.info("flags.loaded", path=str(self.path), reason=details.message)
        self._broken = broken


_process_lock = threading.Lock()
_process_flags: dict[Path, OpenFeatureFlags] = {}


def process_flags(path: str | Path | None) -> FeatureFlags:
    """The process's flags of ``path`` (one watcher per file per process), or, without a
    file, :class:`StaticFlags` that answer every flag with its default."""
    if path is None or str(path) == "":
        return StaticFlags()
    resolved = Path(path).resolve()
    with _process_lock:
        found = _process_flags.get(resolved)
        if found is None:
            found = _process_flags[resolved] = OpenFeatureFlags(resolved)
            log.info("flags.opened", path=str(resolved))
        return found
