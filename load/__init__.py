"""Readalong's load generators and benchmarks (`python -m load <scenario>`); not tests."""
