"""The gateway's own rules, free of IO and frameworks (admission control)."""
