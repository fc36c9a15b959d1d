"""A fake external payment provider for local runs and tests."""
