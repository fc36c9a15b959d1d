"""Process entry points of the gateway: one module per process."""
