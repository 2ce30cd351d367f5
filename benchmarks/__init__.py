"""Reproducible performance runs; each writes its section of docs/benchmarks.md."""
