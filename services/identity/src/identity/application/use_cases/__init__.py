"""Identity's use cases, one per module; each docstring states the rule it enforces."""
