"""Settings shared by the benchmark suite (``myriad-bench run`` runs this folder).

The cases use the plugin's fixtures (``myriad_train``, ``myriad_evaluate``, ``myriad_benchmark``,
``baseline``); here each case only gets its pytest-benchmark group from its module, so the
timing table groups training and evaluation cases, the suite's runs stay quiet, and the CPU's
description is read before the first timed round.
"""

from __future__ import annotations

import os

import pytest

# The run fixtures train quietly; this keeps the direct train_and_evaluate calls of the throughput
# module from printing a progress line per evaluation, so the suite's output stays the summary.
os.environ.setdefault("MYRIAD_BENCH_VERBOSE", "0")


@pytest.fixture(scope="session", autouse=True)
def cpu_described() -> None:
    """A process's first saved run reads the CPU's description for its fingerprint (py-cpuinfo
    starts a subprocess: about 1 s, once): read it before any case, so that no timed round of
    a whole run or of a save pays it."""
    from myriad_bench.store.fingerprint import platform_fingerprint

    platform_fingerprint()


# The throughput and persistence modules name their groups themselves.
_GROUPS = {"test_training": "training", "test_evaluation": "evaluation"}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        group = _GROUPS.get(item.module.__name__.rpartition(".")[2]) if item.module else None
        marker = item.get_closest_marker("benchmark")
        if group and (marker is None or "group" not in marker.kwargs):
            item.add_marker(pytest.mark.benchmark(group=group))
