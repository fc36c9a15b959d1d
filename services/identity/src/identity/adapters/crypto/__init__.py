"""Cryptography adapters: argon2id passwords, Ed25519 signing keys sealed with a KEK, JWTs."""
