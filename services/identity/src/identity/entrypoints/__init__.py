"""Identity's processes: ``ordo-identity`` (api and relay, ``ORDO_ROLES``), one script per role, and
``ordo-identity-cli`` (keys)."""
