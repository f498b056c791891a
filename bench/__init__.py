"""Benchmarks: `make bench` (python -m bench). Each prints `name: value unit (goal)`."""
