"""Requests, steps, the state machine, approval policy and TTL lifecycle."""
