"""Benchmarks: programs that print figures. Not tests; see docs/benchmarks.md."""
