"""Benchmarks: each module exposes `run() -> dict` and prints one summary line per figure."""
