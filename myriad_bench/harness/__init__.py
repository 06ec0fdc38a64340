"""The pytest side: plugin hooks, fixtures, baselines, statistics and reports."""
