"""Benchmark harness: prints figures (never asserts timings). See docs/performance.md."""
