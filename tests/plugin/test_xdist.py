"""``pytest -n 2``: workers run the cases, the controller merges verdicts, summary and report."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytest.importorskip("xdist")

TWO_CASES = """
import myriad_bench as mb
import pytest


@pytest.mark.parametrize("steps", [300, 400])
def test_controller(myriad_train, baseline, steps):
    config = mb.create_config(env="cartpole-control", agent="bench-controller", num_envs=4,
                              steps_per_env=steps, eval_frequency=100, eval_rollouts=16)
    baseline.check(myriad_train(config, seeds=[0, 1, 2, 3, 4, 5]))
"""

CASES = ["test_demo_suite.test_controller-300", "test_demo_suite.test_controller-400"]


@pytest.fixture
def two_cases(project, monkeypatch):
    # Workers are fresh processes: let them share the repository's persistent compilation cache.
    cache = Path(__file__).resolve().parents[2] / ".jax_cache"
    monkeypatch.setenv("JAX_COMPILATION_CACHE_DIR", str(cache))
    monkeypatch.setenv("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0.2")
    monkeypatch.setenv("JAX_PLATFORMS", "cpu")
    project.write_test(body=TWO_CASES)
    return project


@pytest.mark.filterwarnings(
    "ignore:Benchmarks are automatically disabled:pytest_benchmark.logger.PytestBenchmarkWarning"
)
def test_update_then_check_with_two_workers(two_cases):
    result = two_cases.run("-n", "2", "--myriad-update-baselines")
    result.assert_outcomes(passed=2)
    for case in CASES:
        assert two_cases.baseline_meta(case)["platforms"][0]["seeds"] == [0, 1, 2, 3, 4, 5]
    assert not list((two_cases.root / "baselines").glob(".*"))  # claims released by the controller
    result.stdout.fnmatch_lines([f"*{CASES[0]}*written*", f"*{CASES[1]}*written*"])

    two_cases.weaken()
    result = two_cases.run("-n", "2", "--myriad-compare=stat", "--myriad-report=out")
    result.assert_outcomes(failed=2)
    result.stdout.fnmatch_lines(
        ["*myriad-bench*", f"*{CASES[0]}*6*regression*stat*", f"*{CASES[1]}*6*regression*stat*"]
    )
    report = json.loads((two_cases.root / "out" / "report.json").read_text())
    assert sorted(case["case"] for case in report["cases"]) == CASES
    assert all(case["verdict"].startswith("regression") for case in report["cases"])
    assert report["unused_baselines"] == []
