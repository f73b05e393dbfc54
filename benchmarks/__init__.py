"""Standalone benchmark programs; each writes its reports under benchmarks/results/."""
