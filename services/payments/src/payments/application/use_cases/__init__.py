"""One use case per module; each docstring states its business rule."""
