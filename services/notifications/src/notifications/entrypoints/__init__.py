"""Notifications' processes: ``ordo-notifications`` (any roles, ``ORDO_ROLES``) and one script per
role."""
