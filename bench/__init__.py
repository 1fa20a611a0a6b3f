"""Benchmarks (``make bench``): measured and reported, never asserted; see docs/performance.md."""
