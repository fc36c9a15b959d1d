"""Orders' processes: ``ordo-orders`` (any roles, ``ORDO_ROLES``) and one script per role."""
