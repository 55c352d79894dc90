"""Benchmarks and failure drills of the portal (`make bench`, `make bench-smoke`)."""
