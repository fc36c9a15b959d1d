"""The gateway's adapters: the identity upstream and the public /v1 HTTP edge."""
