"""Benchmark harness: prints figures (never asserts timings). See README "Performance"."""
