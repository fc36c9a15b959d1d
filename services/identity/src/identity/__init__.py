"""Ordo identity service: orgs, users, memberships, tokens and signing keys."""
