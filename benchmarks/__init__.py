"""Benchmarks of sitescout (run by hand, never in CI); `python -m benchmarks.ledger` records them."""
