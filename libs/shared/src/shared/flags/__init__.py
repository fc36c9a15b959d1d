"""Feature flags: risky behaviour switched per tenant at run time, through OpenFeature.

A flag is a boolean evaluated for one org (the evaluation context carries ``org_id``, also the
targeting key), so a behaviour can be turned on or off for some tenants, a fraction of them,
or all, without a deploy or a restart::

    flags = process_flags(settings.flags_file)          # in a composition root
    if flags.enabled("catalog.read-cache", org_id=org_id, default=True):
        ...

Values come from a flagd flag file (``ORDO_FLAGS_FILE``; the local stack's is
``infra/flags/ordo.json``) read by OpenFeature's flagd provider in process: no flag server,
no network. The file is polled and re-read when it changes (within ``poll_ms``). A flag
missing from the file, a file that stops parsing, or no file at all leaves every caller with
the ``default`` it passed: the default is the behaviour the code had before the flag.

Flags, their owners and how to change them: docs/flags.md.
"""

from shared.flags._flags import (
    FeatureFlags,
    OpenFeatureFlags,
    StaticFlags,
    process_flags,
)

__all__ = ["FeatureFlags", "OpenFeatureFlags", "StaticFlags", "process_flags"]
