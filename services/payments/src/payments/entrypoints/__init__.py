"""Payments' processes: ``ordo-payments`` (any roles, ``ORDO_ROLES``) and one script per role."""
