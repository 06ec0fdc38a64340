"""pytest-benchmark's options with the run fixtures: timing, extra_info, disable, skip, caching."""

from __future__ import annotations

import json

import pytest

SHARED_RUN = """
import myriad_bench as mb

CONFIG = mb.create_config(env="cartpole-control", agent="bench-controller", num_envs=4, steps_per_env=400,
                          eval_frequency=100, eval_rollouts=16)


def test_first(myriad_train):
    assert len(myriad_train(CONFIG, seeds=[0, 1])) == 2


def test_second(myriad_train):
    assert len(myriad_train(CONFIG, seeds=[0, 1])) == 2
"""


@pytest.fixture
def shared(project):
    project.write_test(body=SHARED_RUN)
    return project


def test_one_timed_round_with_compile_time_and_throughput_in_extra_info(shared):
    result = shared.run(
        "--benchmark-json=bench.json", "-W", "error::pytest_benchmark.logger.PytestBenchmarkWarning"
    )
    result.assert_outcomes(passed=2)
    benchmarks = json.loads((shared.root / "bench.json").read_text())["benchmarks"]
    assert [b["name"] for b in benchmarks] == ["test_first"]  # the second test reused the cached run
    (bench,) = benchmarks
    assert bench["stats"]["rounds"] == 1 and bench["stats"]["iterations"] == 1
    info = bench["extra_info"]
    assert info["compile_s"] >= 0.0
    assert info["env_steps"] == 2 * 4 * 400
    assert info["env_steps_per_s"] == pytest.approx(info["env_steps"] / info["run_s"], rel=0.01)
    assert set(info["final_return"]) == {"0", "1"}
    assert info["run_s"] <= bench["stats"]["max"] + 1e-3  # our timing is inside pytest-benchmark's


def test_benchmark_disable_still_runs_the_cases(shared):
    result = shared.run("--benchmark-disable")
    result.assert_outcomes(passed=2)
    assert "benchmark: 1 tests" not in result.stdout.str()


def test_benchmark_skip_skips_the_cases_before_anything_runs(shared):
    shared.run("--benchmark-skip").assert_outcomes(skipped=2)
