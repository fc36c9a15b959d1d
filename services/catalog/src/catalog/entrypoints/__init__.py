"""Catalog's processes: ``ordo-catalog`` (any roles, ``ORDO_ROLES``) and one script per role."""
