"""Benchmarks: `make bench` (speed and memory targets, reported as ratios measured in one run)."""
