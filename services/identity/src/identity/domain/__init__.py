"""Identity's domain: orgs, users, memberships with roles, refresh tokens and signing keys."""
