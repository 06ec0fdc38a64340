"""Runs: training and evaluation join environments and agents; results and their persistence."""
