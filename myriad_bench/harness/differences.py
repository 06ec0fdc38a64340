"""What differs between a baseline and a run: config fields and platform-fingerprint entries.

Both are flattened to dotted keys (``agent.learning_rate``, ``versions.jax``) and compared key
by key; a side that lacks a key is marked absent.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from myriad_bench.harness.records import Difference
from myriad_bench.store.agent_state import flatten

__all__ = ["config_differences", "fingerprint_differences"]


def _differences(old: Mapping[str, Any], new: Mapping[str, Any], skip: str = "") -> list[Difference]:
    differences = []
    for key in sorted(set(old) | set(new)):
        if key == skip or (key in old and key in new and old[key] == new[key]):
            continue
        absent = "baseline" if key not in old else "current" if key not in new else ""
        differences.append(Difference(key, old.get(key), new.get(key), absent))
    return differences


def config_differences(baseline_config: Any, current_config: Any) -> list[Difference]:
    """Each config field that differs between the baseline's and the current config, seed aside."""
    # Canonical data: a setting given at its default reads as absent on either side.
    old = flatten(baseline_config.canonical_data(), ".")
    new = flatten(current_config.canonical_data(), ".")
    return _differences(old, new, skip="run.seed")


def fingerprint_differences(baseline: Mapping | None, current: Mapping | None) -> list[Difference]:
    """Each platform-fingerprint entry that differs between the baseline's and the current one."""
    return _differences(flatten(baseline or {}, "."), flatten(current or {}, "."))
