"""The external payment provider over HTTP, behind timeouts, retries and a circuit breaker."""
