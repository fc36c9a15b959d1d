"""One use case per module: the HTTP operations, the saga handlers and the background jobs."""
